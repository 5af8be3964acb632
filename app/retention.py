"""Data retention: a finished session's personal data is destroyed once it is older than the clinic keeps it.

What is destroyed is the session's key (see app/store.py): its client label and what every event
said (notes, readings, doses, names) can no longer be read. What stays: the session's id, room,
preset, and each event's place, time and type, so the log stays whole and counts (sessions run,
panics, checks on time) still add up.
"""

from __future__ import annotations

import asyncio
import logging

from app.domain.clock import Clock
from app.store import EventStore

log = logging.getLogger(__name__)

DAY_S = 86400.0
CHECK_EVERY_S = 3600.0


def purge_older_than(store: EventStore, days: float, now: float, by: str) -> list[str]:
    """Purge every session that ended more than `days` ago; the ids purged."""
    purged = []
    for session_id in store.purgeable(ended_before=now - days * DAY_S):
        if store.purge(session_id, now, f"retention: ended more than {days:g} days ago", by):
            purged.append(session_id)
    if purged:
        log.info("retention: purged the personal data of %d session(s)", len(purged))
    return purged


async def keep_purging(store: EventStore, days: float, clock: Clock) -> None:
    """The service's own retention: checked at start and every hour; runs until cancelled."""
    while True:
        await asyncio.to_thread(purge_older_than, store, days, clock.now(), "retention")
        await clock.sleep_until(clock.now() + CHECK_EVERY_S)
