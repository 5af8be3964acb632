"""Leadership through PostgreSQL: one leader at a time, a new term for each, and a leader that can no
longer renew has stopped commanding before the other can take the lock. A real server (the suite's)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from app import leadership as election
from app.api.app import lead
from app.catalog import load_presets
from app.domain.events import EventType
from app.domain.session import SessionInfo
from app.leadership import Leadership, LeadershipLost
from app.store_postgres import StaleLeader
from app.stores import open_store
from tests.support import Postgres, unique

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def database(postgres: Postgres) -> str:
    return postgres.database(unique("lead").replace("-", "_"))


async def test_one_leads_the_other_stands_by_and_takes_over_with_a_new_term_when_the_leader_dies(
    database: str,
) -> None:
    a = Leadership(database, None, "a", "http://a:8000")
    b = Leadership(database, None, "b", "http://b:8000")
    try:
        term_a = await a.wait_to_lead()
        assert a.role == "leader" and a.fence.ok()
        holding = asyncio.create_task(a.hold())
        waiting = asyncio.create_task(b.wait_to_lead())
        await asyncio.sleep(3 * election.POLL_S)
        assert not waiting.done() and b.role == "standby"
        assert b.leader is not None and (b.leader.instance, b.leader.term) == ("a", term_a)
        # Each knows where the other answers (the dashboard moves by it); the leader learnt of the
        # standby started after it from its renewals.
        both = {"a": "http://a:8000", "b": "http://b:8000"}
        assert (a.instances, b.instances) == (both, both)
        holding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await holding

        await a.close()  # as a kill -9 would: its connection, and the lock with it, gone
        taken_at = time.monotonic()
        term_b = await asyncio.wait_for(waiting, 5)
        print(f"taken over {time.monotonic() - taken_at:.2f} s after the leader's connection closed")
        assert term_b == term_a + 1 and b.role == "leader" and a.role == "standby"
    finally:
        await a.close()
        await b.close()


async def test_a_frozen_leader_has_stopped_commanding_before_the_standby_can_lead(database: str) -> None:
    a = Leadership(database, None, "a", "http://a:8000")
    b = Leadership(database, None, "b", "http://b:8000")
    try:
        await a.wait_to_lead()
        holding = asyncio.create_task(a.hold())
        await asyncio.sleep(1.0)
        assert a.fence.ok()  # renewing: still leading
        holding.cancel()  # frozen: no more renewals (nor anything else) from a
        with pytest.raises(asyncio.CancelledError):
            await holding
        await b.wait_to_lead()  # the server ended a's idle session after the lease: the lock passed
        assert not a.fence.ok(), "two instances could command the lights in the same window"
        # Thawed, a finds out at its first renewal and stands by.
        with pytest.raises(LeadershipLost):
            await asyncio.wait_for(a.hold(), 5)
        assert a.role == "standby" and b.role == "leader"
    finally:
        await a.close()
        await b.close()


async def test_the_record_refuses_a_write_under_an_older_term_once_a_newer_one_has_begun(database: str) -> None:
    a = Leadership(database, None, "a", "http://a:8000")
    b = Leadership(database, None, "b", "http://b:8000")
    store = open_store(database)
    try:
        store.term = await a.wait_to_lead()
        info = SessionInfo(id="s1", room="one", preset=load_presets(ROOT / "presets")["lsd"])
        store.create_session(info, 0.0)
        store.append("s1", 1.0, EventType.NOTE, {"text": "under a's lead"})
        await a.close()
        await b.wait_to_lead()  # a newer term: a's writes, should it still make any, are refused
        with pytest.raises(StaleLeader, match=r"led under term \d+, and term \d+ has begun"):
            store.append("s1", 2.0, EventType.NOTE, {"text": "a thawed leader's"})
        assert [e.data.get("text") for e in store.events("s1")] == [None, "under a's lead"]
    finally:
        store.close()
        await a.close()
        await b.close()


async def test_the_lease_is_renewed_while_the_rooms_are_still_starting(database: str) -> None:
    a = Leadership(database, None, "a", "http://a:8000")
    b = Leadership(database, None, "b", "http://b:8000")
    started = asyncio.Event()

    @asynccontextmanager
    async def slow_rooms(fence: object, term: int) -> AsyncIterator[None]:
        await asyncio.sleep(election.LEASE_S + 1.0)  # more sessions to load than the lease lasts
        started.set()
        yield

    leading = asyncio.create_task(lead(a, slow_rooms, asyncio.Lock()))
    async with asyncio.timeout(10):
        while a.term is None:
            await asyncio.sleep(0.01)
    waiting = asyncio.create_task(b.wait_to_lead())
    try:
        await asyncio.wait_for(started.wait(), 10)
        assert a.role == "leader" and a.fence.ok()
        await asyncio.sleep(3 * election.POLL_S)
        assert not waiting.done() and b.role == "standby"
    finally:
        leading.cancel()
        waiting.cancel()
        await asyncio.gather(leading, waiting, return_exceptions=True)
        await a.close()
        await b.close()
