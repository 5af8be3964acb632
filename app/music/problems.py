"""A room's audio problems in the log: each said once, then at a bounded rate while it lasts.

A problem that repeats (an output that cannot be opened, a broken file in a looping segment,
an unplugged library disk) is logged the first time with its path and reason; after that at
most once per `interval_s`, saying how many times it happened meanwhile; and once more when it
is over. Time is the room's clock, so a test can run an hour of failures in milliseconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.domain.clock import Clock

REPEAT_INTERVAL_S = 600.0


@dataclass
class _Seen:
    first_at: float
    logged_at: float
    since_logged: int = 0  # occurrences not logged since logged_at
    total: int = 1


class ProblemLog:
    def __init__(self, logger: logging.Logger, clock: Clock, interval_s: float = REPEAT_INTERVAL_S) -> None:
        self._log = logger
        self._clock = clock
        self._interval_s = interval_s
        self._seen: dict[str, _Seen] = {}

    def report(self, key: str, message: str) -> bool:
        """One occurrence of the problem `key`; returns whether it was logged."""
        now = self._clock.now()
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = _Seen(first_at=now, logged_at=now)
            self._log.warning("%s", message)
            return True
        seen.total += 1
        seen.since_logged += 1
        if now - seen.logged_at < self._interval_s:
            return False
        minutes = (now - seen.logged_at) / 60
        self._log.warning(
            "%s (still: %d more time(s) in the last %.0f min, %d since it began)",
            message,
            seen.since_logged,
            minutes,
            seen.total,
        )
        seen.logged_at, seen.since_logged = now, 0
        return True

    def resolved(self, key: str, message: str) -> None:
        """The problem is over: said once, if it had been reported."""
        seen = self._seen.pop(key, None)
        if seen is not None:
            self._log.info(
                "%s (after %d occurrence(s) over %.0f s)", message, seen.total, self._clock.now() - seen.first_at
            )

    def active(self, key: str) -> bool:
        return key in self._seen
