"""One supervisor for every background task: a failure is logged with the task's name, kept for
/api/health, and never silently dropped.

Two kinds of work run here:
- services (`start`): long-running loops (the MQTT link, the engine's scheduler, each room's
  lights and decks). One that raises is restarted after a back-off, because a room must not
  lose its music or its fades for good over one bad moment.
- jobs (`spawn`): one-shot work started from a callback (a panic pressed over MQTT, a re-plan
  after a failed track). One that raises is logged and recorded; it is not retried.

aiojobs was considered; it schedules jobs but neither restarts services nor keeps a per-name
failure record, which is what health needs, so this small class does both.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from pydantic import BaseModel

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# A failure older than this no longer makes the service "degraded" (the task has been running since).
RECENT_S = 600.0
STOP_WAIT_S = 0.5
STOP_ATTEMPTS = 10


class TaskFailure(BaseModel):
    error: str
    count: int
    last_at: float  # epoch seconds
    running: bool  # a service, restarted after it failed; False for a job (not retried)


class Supervisor:
    def __init__(self) -> None:
        self._services: dict[str, asyncio.Task[None]] = {}
        self._jobs: set[asyncio.Task[Any]] = set()
        self.failures: dict[str, TaskFailure] = {}

    # --- starting work ---------------------------------------------------------------------

    def start(self, name: str, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `factory()` until stopped; restarted with a back-off whenever it raises or returns."""
        if name in self._services:
            raise ValueError(f"a service named {name!r} is already running")
        self._services[name] = asyncio.create_task(self._keep_running(name, factory), name=name)

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run one job in the background; its failure is logged and recorded under `name`."""
        task = asyncio.create_task(coro, name=name)
        self._jobs.add(task)
        task.add_done_callback(self._job_done)
        return task

    # --- reading ---------------------------------------------------------------------------

    def healthy(self) -> bool:
        """No failure in the last RECENT_S, and every service running."""
        now = time.time()
        return all(now - f.last_at > RECENT_S for f in self.failures.values()) and all(
            not task.done() for task in self._services.values()
        )

    def problems(self) -> list[str]:
        """What keeps the service from being healthy, one line each (for /api/health)."""
        now = time.time()
        lines = [
            f"background task {name!r} failed {f.count} time(s), last: {f.error}"
            for name, f in self.failures.items()
            if now - f.last_at <= RECENT_S
        ]
        lines += [f"background task {name!r} has stopped" for name, task in self._services.items() if task.done()]
        return lines

    def running(self) -> list[str]:
        return [name for name, task in self._services.items() if not task.done()]

    # --- stopping --------------------------------------------------------------------------

    async def stop(self) -> None:
        """Cancel services (in reverse order of starting) and jobs, and wait for them."""
        pending = {*self._services.values(), *self._jobs}
        for task in reversed(list(self._services.values())):
            task.cancel()
        for task in self._jobs:
            task.cancel()
        for _ in range(STOP_ATTEMPTS):
            if not pending:
                break
            _, pending = await asyncio.wait(pending, timeout=STOP_WAIT_S)
            # A library can swallow a cancellation that lands at the wrong moment (Python 3.11's
            # wait_for does; seen with aiomqtt cancelled mid-connect): ask again.
            for task in pending:
                task.cancel()
        for task in pending:
            log.error("background task %s did not stop", task.get_name())
        self._services.clear()
        self._jobs.clear()

    # --- internals -------------------------------------------------------------------------

    async def _keep_running(self, name: str, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        attempt = 0
        while True:
            try:
                await factory()
                error = "returned (a service must run until stopped)"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure is recorded and the service restarted
                log.critical("background task %s failed; restarting it", name, exc_info=exc)
                error = f"{type(exc).__name__}: {exc}"
            else:
                log.critical("background task %s %s; restarting it", name, error)
            self._record(name, error, running=True)
            await asyncio.sleep(RESTART_BACKOFF_S[min(attempt, len(RESTART_BACKOFF_S) - 1)])
            attempt += 1

    def _job_done(self, task: asyncio.Task[Any]) -> None:
        self._jobs.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("background job %s failed", task.get_name(), exc_info=exc)
            self._record(task.get_name(), f"{type(exc).__name__}: {exc}", running=False)

    def _record(self, name: str, error: str, *, running: bool) -> None:
        before = self.failures.get(name)
        self.failures[name] = TaskFailure(
            error=error[:500], count=(before.count if before else 0) + 1, last_at=time.time(), running=running
        )
