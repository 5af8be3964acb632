"""Which of two Arcroom instances on one PostgreSQL runs the rooms: leadership through the database.

The leader holds a PostgreSQL advisory lock on a connection of its own; the other instance stands
by and tries for the lock every POLL_S. The lock is the lease:

- The lock's connection has `idle_session_timeout` = LEASE_S: a leader that stops talking to the
  server (killed, frozen, cut off) loses its session, and the lock with it, within LEASE_S; one
  killed outright loses it at once (its connection closes).
- The leader renews by a round trip every RENEW_EVERY_S and counts as leading only until
  STEP_DOWN_S after the last round trip that came back (`Fence`): it stops commanding before the
  lease can pass to the other (Patroni's rule), and a leader thawed after a freeze finds its fence
  long expired before it can send anything.
- Each time an instance takes the lead it writes a new term (`leader_terms`): the record refuses a
  write made under an older term once a newer one exists (app/store_postgres.py), and `GET
  /api/health` names the leader from the newest.

No home-made consensus: the database decides, and only one session can hold the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

LEASE_S = 3.0
RENEW_EVERY_S = 0.5
STEP_DOWN_S = 2.0  # < LEASE_S: the leader stops before the server can give the lock to another
POLL_S = 0.5
CONNECT_TIMEOUT_S = 2
# The lock's key: the two-number form, so it never meets the record's own one-number locks.
LOCK_KEYS = (0x41524352, 1)  # "ARCR", leadership

TERMS_SQL = """
CREATE TABLE IF NOT EXISTS leader_terms (
    term BIGSERIAL PRIMARY KEY,
    instance TEXT NOT NULL,
    address TEXT NOT NULL,
    since DOUBLE PRECISION NOT NULL
)
"""
# Every instance, leading or not, and where its service answers: the dashboard moves to another
# when the one it is on stops answering (GET /api/health lists them).
INSTANCES_SQL = """
CREATE TABLE IF NOT EXISTS arcroom_instances (
    instance TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    seen DOUBLE PRECISION NOT NULL
)
"""
REGISTER_SQL = """
INSERT INTO arcroom_instances (instance, address, seen) VALUES (%s, %s, %s)
ON CONFLICT (instance) DO UPDATE SET address = EXCLUDED.address, seen = EXCLUDED.seen
"""
# The renewal's round trip reads them too: a leader learns of a standby started after it.
INSTANCES_READ_SQL = "SELECT instance, address FROM arcroom_instances ORDER BY instance"


class LeadershipLost(RuntimeError):
    """This instance can no longer show that it leads: it must stop commanding at once."""


class Fence:
    """Whether this instance may command the rooms now: until STEP_DOWN_S after its last renewal
    (monotonic time, so a freeze or a clock change cannot stretch it)."""

    def __init__(self, leading: bool = False) -> None:
        self._until = float("inf") if leading else 0.0
        self._on_drop: list[Callable[[], None]] = []

    def when_dropped(self, hook: Callable[[], None]) -> None:
        """Call `hook` as the fence drops (the MQTT link resets its connection then)."""
        self._on_drop.append(hook)

    def ok(self) -> bool:
        return time.monotonic() < self._until

    def left_s(self) -> float:
        return self._until - time.monotonic()

    def renewed(self, at: float) -> None:
        self._until = at + STEP_DOWN_S

    def drop(self) -> None:
        self._until = 0.0
        for hook in self._on_drop:
            try:
                hook()
            except Exception:
                log.exception("a hook on the leadership fence failed")


SOLE = Fence(leading=True)  # one instance, no standby: it always leads


@dataclass(frozen=True)
class Leader:
    instance: str
    address: str
    since: float
    term: int


class Leadership:
    """This instance's part in the election: standing by, then leading under a term."""

    def __init__(self, url: str, password: str | None, instance: str, address: str) -> None:
        self.url = url
        self.password = password
        self.instance = instance
        self.address = address
        self.fence = Fence()
        self.term: int | None = None
        self.leader: Leader | None = None  # the newest term's holder, as last read
        self.instances: dict[str, str] = {instance: address}  # every instance's address, as last read
        self.problem: str | None = None
        self._conn: Any = None
        self._abandoned: set[asyncio.Task[None]] = set()

    @property
    def role(self) -> str:
        return "leader" if self.term is not None and self.fence.ok() else "standby"

    async def _connect(self) -> Any:
        import psycopg  # loaded only where PostgreSQL is used

        kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S}
        if self.password is not None:
            kwargs["password"] = self.password
        conn = await psycopg.AsyncConnection.connect(self.url, **kwargs)
        try:
            await conn.execute(f"SET idle_session_timeout = {int(LEASE_S * 1000)}")
            await conn.execute(TERMS_SQL)
            await conn.execute(INSTANCES_SQL)
            await conn.execute(REGISTER_SQL, (self.instance, self.address, time.time()))
        except BaseException:  # cancelled (shutting down) or failed: not left open behind us
            await conn.close()
            raise
        return conn

    async def wait_to_lead(self) -> int:
        """Stand by until this instance holds the lock; then write its term and return it."""
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await self._connect()
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    started = time.monotonic()
                    cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s, %s)", LOCK_KEYS)
                    row = await cur.fetchone()
                    if row is not None and row[0]:
                        cur = await self._conn.execute(
                            "INSERT INTO leader_terms (instance, address, since) VALUES (%s, %s, %s) RETURNING term",
                            (self.instance, self.address, time.time()),
                        )
                        term_row = await cur.fetchone()
                        assert term_row is not None
                        self.term = int(term_row[0])
                        self.fence.renewed(started)
                        self.leader = Leader(self.instance, self.address, time.time(), self.term)
                        self.problem = None
                        log.warning("instance %s leads now (term %d)", self.instance, self.term)
                        return self.term
                    await self._read_leader()
                    self.problem = None
            except Exception as exc:  # noqa: BLE001 - the server away: say so and try again
                self.problem = f"the database for leadership is unreachable: {type(exc).__name__}: {exc}"
                await self._close()
            await asyncio.sleep(POLL_S)

    async def _read_leader(self) -> None:
        cur = await self._conn.execute(
            "SELECT instance, address, since, term FROM leader_terms ORDER BY term DESC LIMIT 1"
        )
        row = await cur.fetchone()
        self.leader = Leader(row[0], row[1], row[2], int(row[3])) if row is not None else None
        await self._read_instances(self._conn)

    async def _read_instances(self, conn: Any) -> None:
        cur = await conn.execute(INSTANCES_READ_SQL)
        self.instances = {str(name): str(address) for name, address in await cur.fetchall()}

    async def hold(self) -> None:
        """Renew the lease until it cannot be shown; then raise LeadershipLost (the fence has
        already dropped: nothing is commanded from then on)."""
        while True:
            started = time.monotonic()
            renewal = asyncio.ensure_future(self._read_instances(self._conn))
            # Never waits past the fence, nor on the driver: a query on a dead link can take long to
            # cancel. A leader that cannot renew stops as its fence lapses, before the lock can pass.
            done, _ = await asyncio.wait({renewal}, timeout=max(0.05, min(STEP_DOWN_S, self.fence.left_s())))
            failure = (renewal.exception() or None) if renewal in done else TimeoutError("no answer")
            if failure is None:
                self.fence.renewed(started)
            elif renewal not in done or self.fence.left_s() <= 0.05:  # no answer before the fence lapsed
                self.fence.drop()
                self._abandon(renewal)
                self.term = None
                self.leader = None  # not known until the next try for the lock reads it
                log.error(
                    "instance %s stops commanding: no lease renewal for %.1f s (%r)",
                    self.instance,
                    STEP_DOWN_S,
                    failure,
                )
                raise LeadershipLost(f"could not renew the lease for {STEP_DOWN_S} s: {failure!r}")
            else:
                log.warning("instance %s: a lease renewal failed (%r); trying again", self.instance, failure)
            await asyncio.sleep(max(0.0, started + RENEW_EVERY_S - time.monotonic()))

    def _abandon(self, renewal: asyncio.Future[Any]) -> None:
        """Leave the connection and its pending query to end in the background."""
        conn, self._conn = self._conn, None
        renewal.cancel()

        async def end() -> None:
            with contextlib.suppress(BaseException):
                await renewal
            with contextlib.suppress(Exception):
                await conn.close()

        task = asyncio.create_task(end(), name="leadership-abandon")
        self._abandoned.add(task)
        task.add_done_callback(self._abandoned.discard)

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                log.debug("closing the leadership connection failed", exc_info=True)

    async def close(self) -> None:
        self.fence.drop()
        self.term = None
        await self._close()
