"""Injected time: the wall clock in production, a manual clock in tests and simulations.

Time is epoch seconds (float) so that events stored in SQLite keep their meaning across a
restart; sleeping is done by the clock so a test can run a twelve-hour arc in milliseconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Current time, epoch seconds."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once now() >= deadline."""
        ...


class SystemClock:
    """Wall-clock time; sleeps in short slices so a clock step (NTP) is noticed promptly."""

    max_slice_s = 5.0

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        while (remaining := deadline - time.time()) > 0:  # noqa: ASYNC110 - slices notice a clock step
            await asyncio.sleep(min(remaining, self.max_slice_s))


class ManualClock:
    """A clock that only moves when told to; `advance` wakes each sleeper at its own deadline."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._order), future))
        await future

    async def advance(self, seconds: float) -> None:
        """Move time forward, stopping at every sleeper's deadline on the way and letting it run."""
        target = self._now + seconds
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            if future.done():  # its sleeper was cancelled
                continue
            self._now = max(self._now, deadline)
            future.set_result(None)
            await _settle()
        self._now = target
        await _settle()

    async def advance_to(self, when: float) -> None:
        await self.advance(max(0.0, when - self._now))


async def _settle(rounds: int = 20) -> None:
    # Give woken tasks (and the tasks they wake in turn) a chance to run before time moves on.
    for _ in range(rounds):
        await asyncio.sleep(0)


async def sleep_until_or_woken(clock: Clock, deadline: float | None, wake: asyncio.Event) -> None:
    """Sleep on `clock` until `deadline` (None: indefinitely) or until `wake` is set."""
    sleeper = asyncio.ensure_future(clock.sleep_until(deadline) if deadline is not None else wake.wait())
    waker = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waker.cancel()
