"""Fan-out of notices to any number of listeners (SSE clients, the MQTT bridge, adapters)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class Hub(Generic[T]):
    """Publishing never blocks: a listener that falls behind loses its oldest notices, not the room."""

    def __init__(self, maxsize: int = 256) -> None:
        self._maxsize = maxsize
        self._queues: set[asyncio.Queue[T]] = set()

    def publish(self, item: T) -> None:
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(item)

    @contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[T]]:
        queue: asyncio.Queue[T] = asyncio.Queue(self._maxsize)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    @property
    def listeners(self) -> int:
        return len(self._queues)
