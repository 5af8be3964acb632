"""The record: sessions, their append-only event logs and the rooms' own logs, in SQLite or PostgreSQL.

`EventStore` holds the record's rules, the same on both engines; `SqliteStore` (one file, the
embedded default) and `PostgresStore` (a database server) only say how to reach them. A
`postgresql://` URL in ARCROOM_DATABASE picks the server (`open_store`).

Personal data is crypto-shredded: each session has its own key (in `session_keys`, the one table
rows are deleted from), and its client label and every event's data are stored encrypted with
it (Fernet: AES-128-CBC with an HMAC). Purging a session deletes its key: the log keeps every
event's place, time and type, and the append-only triggers stay as they are, but what the events
said can no longer be read by anyone (on SQLite not from its free pages either: secure_delete).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet, InvalidToken

from app import schema
from app.domain.errors import Conflict
from app.domain.events import Event, EventType
from app.domain.room_log import RoomEvent, RoomEventType
from app.domain.session import SessionInfo
from app.domain.versions import PRESET_SNAPSHOT, ROOM_EVENTS, SESSION_EVENTS, Chain, load_preset_snapshot

MIN_SHORT_ID = 6  # characters of a session id that may stand for it, if no other id starts so

# Sealed values are "enc:" + a Fernet token; anything else is plain JSON (written before keys existed).
_SEALED = "enc:"


@dataclass(frozen=True)
class StoredSession:
    info: SessionInfo
    created_at: float


# A query in a transaction: SQL with `?` placeholders and its parameters -> the rows.
Query = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]
# How many times an append is tried again after another writer took the same place in a log.
APPEND_ATTEMPTS = 20
T = TypeVar("T")


class EventStore(ABC):
    """The record's rules, whatever the engine: an engine gives transactions (`_transaction`) and
    says which errors mean another writer got there first (`_conflicts`).

    Calls are synchronous: an append on a local disk or a server on the LAN takes about a
    millisecond, and doing it inline keeps event order identical to command order without a queue.
    """

    # With a standby: the leader's term its writes are made under (PostgresStore refuses them once a
    # newer term exists; a SQLite file has no standby).
    term: int | None = None

    # Exceptions that mean an append lost a race for its place in a log: tried again at the next.
    _conflicts: tuple[type[Exception], ...] = ()
    # SQL that is true when a session's preset snapshot (preset_json, alias s) has a REMS form.
    _rems_form_sql = "json_extract(s.preset_json, '$.rems_form') = 1"

    @property
    def problem(self) -> str | None:
        """Why the record cannot be written now (for health), or None."""
        return None

    @abstractmethod
    def _transaction(self, write: bool) -> AbstractContextManager[Query]:
        """A transaction; `write`: one that will write (SQLite takes its lock at once)."""

    @abstractmethod
    def close(self) -> None: ...

    def _after_purge(self) -> None:  # noqa: B027 - a hook: most engines need nothing here
        """After a key is deleted: what the engine must do so no copy of it survives."""

    def _queue_for(self, q: Query, log: str) -> None:  # noqa: B027 - a hook: SQLite queues every write already
        """Make this transaction wait for any other appending to the same log (`log`: a session's or a
        room's), where the engine does not do that for every write already."""

    def create_session(self, info: SessionInfo, at: float, data: dict[str, Any] | None = None) -> Event:
        """Record a new session and its `started` event, atomically."""
        key = Fernet.generate_key()
        label = None if info.client_label is None else _seal(Fernet(key), info.client_label)
        with self._transaction(write=True) as q:
            self._queue_for(q, f"session:{info.id}")
            q(
                "INSERT INTO sessions (id, room, preset_json, client_label, created_at, preset_v) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (info.id, info.room, info.preset.model_dump_json(), label, at, PRESET_SNAPSHOT.version("preset")),
            )
            q("INSERT INTO session_keys (session_id, key) VALUES (?, ?)", (info.id, key))
            return self._insert(q, info.id, 0, at, EventType.STARTED, data or {})

    def append(self, session_id: str, at: float, type_: EventType, data: dict[str, Any] | None = None) -> Event:
        """The event, at the end of the session's log."""
        return self._appended(
            f"session:{session_id}",
            lambda q: self._insert(q, session_id, _next_seq(q, session_id), at, type_, data or {}),
        )

    def _appended(self, log: str, write: Callable[[Query], T]) -> T:
        """`write` a log's next entry. Two writers never take the same place: they queue for the
        log, and should one get past, the database refuses it (the key is log and place) and it
        goes after."""
        for attempt in range(APPEND_ATTEMPTS):
            try:
                with self._transaction(write=True) as q:
                    self._queue_for(q, log)
                    return write(q)
            except self._conflicts:
                if attempt == APPEND_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _insert(self, q: Query, session_id: str, seq: int, at: float, type_: EventType, data: dict[str, Any]) -> Event:
        text = json.dumps(data)
        cipher = _cipher(q, session_id)
        if cipher is not None and type_ is not EventType.PURGED:
            text = _seal(cipher, text)
        q(
            "INSERT INTO events (session_id, seq, at, type, data, v) VALUES (?, ?, ?, ?, ?, ?)",
            (session_id, seq, at, type_.value, text, SESSION_EVENTS.version(type_.value)),
        )
        return Event(seq=seq, at=at, type=type_, data=data)

    def events(self, session_id: str) -> list[Event]:
        with self._transaction(write=False) as q:
            rows = q("SELECT seq, at, type, data, v FROM events WHERE session_id = ? ORDER BY seq", (session_id,))
            cipher = _cipher(q, session_id)
        return [
            Event(seq=s, at=a, type=EventType(t), data=_current(SESSION_EVENTS, t, v, _open(cipher, d)))
            for s, a, t, d, v in rows
        ]

    def purge(self, session_id: str, at: float, reason: str, by: str) -> bool:
        """Destroy a finished session's personal data (its key); False if it was already purged."""
        with self._transaction(write=True) as q:
            self._queue_for(q, f"session:{session_id}")
            if _cipher(q, session_id) is None:
                return False
            types = {t for (t,) in q("SELECT type FROM events WHERE session_id = ?", (session_id,))}
            if EventType.ENDED.value not in types:
                raise ValueError(f"session {session_id} is still running: end it before purging it")
            seq = _next_seq(q, session_id)
            self._insert(q, session_id, seq, at, EventType.PURGED, {"reason": reason, "by": by})
            q("DELETE FROM session_keys WHERE session_id = ?", (session_id,))
        self._after_purge()
        return True

    def purgeable(self, ended_before: float) -> list[str]:
        """Sessions that ended before `ended_before` and still hold personal data."""
        with self._transaction(write=False) as q:
            rows = q(
                "SELECT e.session_id FROM events e JOIN session_keys k ON k.session_id = e.session_id "
                "WHERE e.type = 'ended' AND e.at < ? ORDER BY e.at",
                (ended_before,),
            )
        return [str(sid) for (sid,) in rows]

    def resolve(self, session_id: str) -> str | None:
        """The full id of the session `session_id` names: itself, or the one session whose id starts
        with it (the 8 characters of a downloaded file's name); None if none. Two: Conflict."""
        with self._transaction(write=False) as q:
            if q("SELECT 1 FROM sessions WHERE id = ?", (session_id,)):
                return session_id
            if len(session_id) < MIN_SHORT_ID or not all(c in "0123456789abcdef" for c in session_id):
                return None
            rows = q("SELECT id FROM sessions WHERE id LIKE ? ORDER BY id LIMIT 2", (session_id + "%",))
        if len(rows) > 1:
            raise Conflict(f"{session_id!r} is the start of more than one session's id: give more of it")
        return str(rows[0][0]) if rows else None

    def session(self, session_id: str) -> StoredSession | None:
        rows = self._sessions("WHERE s.id = ?", (session_id,))
        return rows[0] if rows else None

    def sessions_since(self, since: float) -> list[StoredSession]:
        """Sessions created at or after `since`, oldest first."""
        return self._sessions("WHERE s.created_at >= ? ORDER BY s.created_at", (since,))

    def rems_unfiled(self) -> list[StoredSession]:
        """Sessions of a preset with a REMS form, dosed, whose form is not marked filed: oldest first, however old.

        A dose is what makes a form due (one per treatment session); an overdue form is still owed.
        """
        return self._sessions(
            f"WHERE {self._rems_form_sql} "
            "AND EXISTS (SELECT 1 FROM events e WHERE e.session_id = s.id AND e.type = 'dose_given') "
            "AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = s.id AND e.type = 'rems_filed') "
            "ORDER BY s.created_at",
            (),
        )

    def unfinished_sessions(self) -> list[StoredSession]:
        return self._sessions(
            "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = s.id AND e.type = 'ended') "
            "ORDER BY s.created_at",
            (),
        )

    def _sessions(self, where: str, params: tuple[Any, ...]) -> list[StoredSession]:
        with self._transaction(write=False) as q:
            rows = q(
                "SELECT s.id, s.room, s.preset_json, s.client_label, s.created_at, s.preset_v, k.key "
                f"FROM sessions s LEFT JOIN session_keys k ON k.session_id = s.id {where}",
                params,
            )
        return [_stored(row) for row in rows]

    def append_room_event(
        self, room: str, at: float, type_: RoomEventType, data: dict[str, Any] | None = None
    ) -> RoomEvent:
        def write(q: Query) -> RoomEvent:
            ((seq,),) = q("SELECT COALESCE(MAX(seq), -1) + 1 FROM room_events WHERE room = ?", (room,))
            q(
                "INSERT INTO room_events (room, seq, at, type, data, v) VALUES (?, ?, ?, ?, ?, ?)",
                (room, seq, at, type_.value, json.dumps(data or {}), ROOM_EVENTS.version(type_.value)),
            )
            return RoomEvent(seq=seq, at=at, type=type_, data=data or {})

        return self._appended(f"room:{room}", write)

    def room_events(self, room: str) -> list[RoomEvent]:
        with self._transaction(write=False) as q:
            rows = q("SELECT seq, at, type, data, v FROM room_events WHERE room = ? ORDER BY seq", (room,))
        return [
            RoomEvent(seq=s, at=a, type=RoomEventType(t), data=_current(ROOM_EVENTS, t, v, d)) for s, a, t, d, v in rows
        ]


# The record's tables, parents first, with their columns: what `arcroom db copy` moves, row for row.
TABLES = (
    ("sessions", "id, room, preset_json, client_label, created_at, preset_v"),
    ("session_keys", "session_id, key"),
    ("events", "session_id, seq, at, type, data, v"),
    ("room_events", "room, seq, at, type, data, v"),
)


def table_rows(store: EventStore, table: str) -> list[tuple[Any, ...]]:
    """Every row of one of the record's TABLES, as stored (sealed data stays sealed)."""
    columns = dict(TABLES)[table]
    with store._transaction(write=False) as q:
        return q(f"SELECT {columns} FROM {table} ORDER BY {columns.split(',')[0]}", ())


def insert_rows(store: EventStore, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """Write rows of the record's TABLES as they are, all in one transaction (for a copy)."""
    with store._transaction(write=True) as q:
        for table, columns in TABLES:
            marks = ", ".join("?" for _ in columns.split(","))
            for row in rows.get(table, []):
                q(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row))


class SqliteStore(EventStore):
    """The record in one SQLite file (WAL; a write transaction takes the file's lock at once)."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        # A purged key's bytes are overwritten on disk, not left in a free page.
        self._db.execute("PRAGMA secure_delete=ON")
        if str(path) == ":memory:":
            schema.apply_in_memory(self._db)
        else:
            schema.upgrade(schema.sqlite_uri(path))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Query]:
        def query(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
            return self._db.execute(sql, params).fetchall()

        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield query

    def _after_purge(self) -> None:
        with self._lock:
            # The old key must not survive in the write-ahead log either.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _next_seq(q: Query, session_id: str) -> int:
    ((seq,),) = q("SELECT COALESCE(MAX(seq), -1) + 1 FROM events WHERE session_id = ?", (session_id,))
    return int(seq)


def _cipher(q: Query, session_id: str) -> Fernet | None:
    rows = q("SELECT key FROM session_keys WHERE session_id = ?", (session_id,))
    return Fernet(bytes(rows[0][0])) if rows else None


def _stored(row: tuple[Any, ...]) -> StoredSession:
    sid, room, preset_json, label, created, preset_v, key = row
    preset = load_preset_snapshot(json.loads(preset_json), preset_v, session=sid)
    cipher = Fernet(bytes(key)) if key is not None else None
    client_label = None if label is None else _open(cipher, label)
    return StoredSession(SessionInfo(id=sid, room=room, preset=preset, client_label=client_label), float(created))


def _seal(cipher: Fernet, text: str) -> str:
    return _SEALED + cipher.encrypt(text.encode()).decode()


def _open(cipher: Fernet | None, text: str) -> str | None:
    """The plain text of a stored value; None when its session was purged (its key is gone)."""
    if not text.startswith(_SEALED):
        return text
    if cipher is None:
        return None
    try:
        return cipher.decrypt(text.removeprefix(_SEALED).encode()).decode()
    except InvalidToken:
        return None


def _current(chain: Chain, type_: str, version: int, text: str | None) -> dict[str, Any]:
    """A stored event's data in its type's current shape; {} once purged (nothing left to upcast)."""
    return {} if text is None else chain.upcast(type_, version, dict(json.loads(text)))
