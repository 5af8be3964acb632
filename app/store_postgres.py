"""The record on a PostgreSQL server: the same rules as the SQLite file (app/store.py), for a
clinic whose IT keeps its data on a database server (backups, point-in-time recovery, replicas).

psycopg 3 with its connection pool: the store's calls are synchronous like SQLite's (an append is
one round trip on the LAN, and order is kept without a queue), and the pool replaces a connection
the server dropped (a restart, a failover) instead of failing every call after it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors
from psycopg_pool import ConnectionPool, PoolTimeout

from app import schema
from app.domain.errors import Unavailable
from app.store import EventStore, Query

log = logging.getLogger(__name__)

# How long a call waits for a connection (the server unreachable: the call fails after this). The
# store's calls are made on the event loop, so this is how long one can hold it up.
CONNECT_TIMEOUT_S = 2.0
# After a call found the server unreachable, calls fail at once for this long rather than each
# waiting CONNECT_TIMEOUT_S: a room must not stall while the server is away.
FAIL_FAST_S = 5.0


class RecordUnavailable(Unavailable):
    """The database server cannot be reached: nothing was recorded, so nothing was done."""


class StaleLeader(Unavailable):
    """This instance no longer leads (a newer term exists): nothing was recorded."""


class PostgresStore(EventStore):
    """The record in a PostgreSQL database (`postgresql://user@host[:port]/dbname`)."""

    # Two writers that computed the same next place in a log (they queue for it, so only a writer
    # that did not: an older release, a hand-made insert): the second's insert violates the
    # (session, seq) key, and its append is made again at the place after.
    _conflicts = (errors.UniqueViolation,)
    _rems_form_sql = "(s.preset_json::jsonb ->> 'rems_form') = 'true'"

    def __init__(self, url: str, password: str | None = None) -> None:
        kwargs: dict[str, Any] = {"connect_timeout": max(1, round(CONNECT_TIMEOUT_S))}
        if password is not None:
            kwargs["password"] = password
        self._shown = url.split("@", 1)[-1]  # host, port and database: nothing secret
        self._problem: str | None = None
        self._down_until = 0.0
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=4,
            kwargs=kwargs,
            timeout=CONNECT_TIMEOUT_S,
            # A connection the server dropped (a restart, a failover) is replaced before use.
            check=ConnectionPool.check_connection,
            open=False,
            name="arcroom",
        )
        schema.upgrade(schema.postgres_uri(url, password))
        self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)

    def close(self) -> None:
        self._pool.close()

    def _queue_for(self, q: Query, log: str) -> None:
        # Writers of one log take turns (a lock held until the transaction ends). Without it two
        # busy writers kept computing the same next place and one lost the race again and again.
        q("SELECT pg_advisory_xact_lock(hashtext(?))", (log,))
        if self.term is not None:
            # Written under this leader's term: refused once another instance has taken the lead
            # (a leader thawed after a freeze, before it has found out). app/leadership.py.
            rows = q("SELECT max(term) FROM leader_terms", ())
            newest = rows[0][0] if rows else None
            if newest is not None and newest > self.term:
                raise StaleLeader(
                    f"not recorded: this instance led under term {self.term}, and term {newest} has begun since"
                )

    @property
    def problem(self) -> str | None:
        if self._problem is not None and time.monotonic() >= self._down_until:
            # Asked (by health) while nothing else writes: see whether the server is back.
            with contextlib.suppress(RecordUnavailable), self._transaction(write=False) as q:
                q("SELECT 1", ())
        return self._problem

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Query]:
        if self._problem is not None and time.monotonic() < self._down_until:
            raise RecordUnavailable(self._problem)
        try:
            with self._pool.connection() as conn:  # commits when the block ends, rolls back on an error
                cursor = conn.cursor()

                def query(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
                    cursor.execute(sql.replace("?", "%s"), params)
                    return cursor.fetchall() if cursor.description is not None else []

                yield query
        except (psycopg.OperationalError, PoolTimeout) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if self._problem is None:
                log.error("the record's database %s cannot be reached: %s", self._shown, reason)
            self._problem = (
                f"the record's database {self._shown} cannot be reached ({reason}): "
                "what must be recorded is refused until it is back"
            )
            self._down_until = time.monotonic() + FAIL_FAST_S
            raise RecordUnavailable(self._problem) from exc
        if self._problem is not None:
            log.warning("the record's database %s is back", self._shown)
            self._problem = None
