"""SQLite event store: sessions and their append-only event logs.

Personal data is crypto-shredded: each session has its own key (in `session_keys`, the one table
rows are deleted from), and its client label and every event's data are stored encrypted with
it (Fernet: AES-128-CBC with an HMAC). Purging a session deletes its key: the log keeps every
event's place, time and type, and the append-only triggers stay as they are, but what the events
said can no longer be read by anyone, from the database or from its free pages (secure_delete).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from app.domain.errors import Conflict
from app.domain.events import Event, EventType
from app.domain.room_log import RoomEvent, RoomEventType
from app.domain.session import SessionInfo
from app.domain.versions import PRESET_SNAPSHOT, ROOM_EVENTS, SESSION_EVENTS, Chain, load_preset_snapshot

MIN_SHORT_ID = 6  # characters of a session id that may stand for it, if no other id starts so

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    room TEXT NOT NULL,
    preset_json TEXT NOT NULL,
    client_label TEXT,
    created_at REAL NOT NULL,
    preset_v INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    v INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (session_id, seq)
);
CREATE INDEX IF NOT EXISTS events_by_type ON events(type);
-- The log is append-only: corrections are new events, never edits.
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
-- A room's own log (panic, manual lighting), kept whether or not a session runs.
CREATE TABLE IF NOT EXISTS room_events (
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    v INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (room, seq)
);
CREATE TRIGGER IF NOT EXISTS room_events_no_update BEFORE UPDATE ON room_events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS room_events_no_delete BEFORE DELETE ON room_events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
-- One key per session for its personal data; deleting the row is purging the session.
CREATE TABLE IF NOT EXISTS session_keys (
    session_id TEXT PRIMARY KEY REFERENCES sessions(id),
    key BLOB NOT NULL
);
"""
# Columns added since the first release: (table, column, definition). A database from before
# gets them on open; what was stored before versions existed is version 1.
_ADDED_COLUMNS = (
    ("sessions", "preset_v", "INTEGER NOT NULL DEFAULT 1"),
    ("events", "v", "INTEGER NOT NULL DEFAULT 1"),
    ("room_events", "v", "INTEGER NOT NULL DEFAULT 1"),
)
# Sealed values are "enc:" + a Fernet token; anything else is plain JSON (written before keys existed).
_SEALED = "enc:"


@dataclass(frozen=True)
class StoredSession:
    info: SessionInfo
    created_at: float


class EventStore:
    """Sessions and events in one SQLite file.

    Calls are synchronous: a WAL-mode append on a local disk takes well under a millisecond,
    and doing it inline keeps event order identical to command order without a queue.
    """

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
        self._db.executescript(_SCHEMA)
        for table, column, definition in _ADDED_COLUMNS:
            if column not in {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create_session(self, info: SessionInfo, at: float, data: dict[str, Any] | None = None) -> Event:
        """Record a new session and its `started` event, atomically."""
        key = Fernet.generate_key()
        label = None if info.client_label is None else _seal(Fernet(key), info.client_label)
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO sessions (id, room, preset_json, client_label, created_at, preset_v) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (info.id, info.room, info.preset.model_dump_json(), label, at, PRESET_SNAPSHOT.version("preset")),
            )
            self._db.execute("INSERT INTO session_keys (session_id, key) VALUES (?, ?)", (info.id, key))
            return self._insert(info.id, 0, at, EventType.STARTED, data or {})

    def append(self, session_id: str, at: float, type_: EventType, data: dict[str, Any] | None = None) -> Event:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            (seq,) = self._db.execute(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM events WHERE session_id = ?", (session_id,)
            ).fetchone()
            return self._insert(session_id, seq, at, type_, data or {})

    def _insert(self, session_id: str, seq: int, at: float, type_: EventType, data: dict[str, Any]) -> Event:
        text = json.dumps(data)
        cipher = self._cipher(session_id)
        if cipher is not None and type_ is not EventType.PURGED:
            text = _seal(cipher, text)
        self._db.execute(
            "INSERT INTO events (session_id, seq, at, type, data, v) VALUES (?, ?, ?, ?, ?, ?)",
            (session_id, seq, at, type_.value, text, SESSION_EVENTS.version(type_.value)),
        )
        return Event(seq=seq, at=at, type=type_, data=data)

    def events(self, session_id: str) -> list[Event]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, at, type, data, v FROM events WHERE session_id = ? ORDER BY seq", (session_id,)
            ).fetchall()
            cipher = self._cipher(session_id)
        return [
            Event(seq=s, at=a, type=EventType(t), data=_current(SESSION_EVENTS, t, v, _open(cipher, d)))
            for s, a, t, d, v in rows
        ]

    def purge(self, session_id: str, at: float, reason: str, by: str) -> bool:
        """Destroy a finished session's personal data (its key); False if it was already purged."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if self._cipher(session_id) is None:
                return False
            types = {t for (t,) in self._db.execute("SELECT type FROM events WHERE session_id = ?", (session_id,))}
            if EventType.ENDED.value not in types:
                raise ValueError(f"session {session_id} is still running: end it before purging it")
            (seq,) = self._db.execute(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM events WHERE session_id = ?", (session_id,)
            ).fetchone()
            self._insert(session_id, seq, at, EventType.PURGED, {"reason": reason, "by": by})
            self._db.execute("DELETE FROM session_keys WHERE session_id = ?", (session_id,))
        with self._lock:
            # The old key must not survive in the write-ahead log either.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return True

    def purgeable(self, ended_before: float) -> list[str]:
        """Sessions that ended before `ended_before` and still hold personal data."""
        with self._lock:
            rows = self._db.execute(
                "SELECT e.session_id FROM events e JOIN session_keys k ON k.session_id = e.session_id "
                "WHERE e.type = 'ended' AND e.at < ? ORDER BY e.at",
                (ended_before,),
            ).fetchall()
        return [sid for (sid,) in rows]

    def _cipher(self, session_id: str) -> Fernet | None:
        row = self._db.execute("SELECT key FROM session_keys WHERE session_id = ?", (session_id,)).fetchone()
        return Fernet(row[0]) if row else None

    def resolve(self, session_id: str) -> str | None:
        """The full id of the session `session_id` names: itself, or the one session whose id starts
        with it (the 8 characters of a downloaded file's name); None if none. Two: Conflict."""
        with self._lock:
            if self._db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone():
                return session_id
            if len(session_id) < MIN_SHORT_ID or not all(c in "0123456789abcdef" for c in session_id):
                return None
            rows = self._db.execute(
                "SELECT id FROM sessions WHERE id LIKE ? ORDER BY id LIMIT 2", (session_id + "%",)
            ).fetchall()
        if len(rows) > 1:
            raise Conflict(f"{session_id!r} is the start of more than one session's id: give more of it")
        return str(rows[0][0]) if rows else None

    def session(self, session_id: str) -> StoredSession | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, room, preset_json, client_label, created_at, preset_v FROM sessions WHERE id = ?",
                (session_id,),
            ).fetchone()
        return self._stored(row) if row else None

    def sessions_since(self, since: float) -> list[StoredSession]:
        """Sessions created at or after `since`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, room, preset_json, client_label, created_at, preset_v FROM sessions WHERE created_at >= ? "
                "ORDER BY created_at",
                (since,),
            ).fetchall()
        return [self._stored(r) for r in rows]

    def rems_unfiled(self) -> list[StoredSession]:
        """Sessions of a preset with a REMS form, dosed, whose form is not marked filed: oldest first, however old.

        A dose is what makes a form due (one per treatment session); an overdue form is still owed.
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT id, room, preset_json, client_label, created_at, preset_v FROM sessions s "
                "WHERE json_extract(s.preset_json, '$.rems_form') = 1 "
                "AND EXISTS (SELECT 1 FROM events e WHERE e.session_id = s.id AND e.type = 'dose_given') "
                "AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = s.id AND e.type = 'rems_filed') "
                "ORDER BY created_at"
            ).fetchall()
        return [self._stored(r) for r in rows]

    def unfinished_sessions(self) -> list[StoredSession]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, room, preset_json, client_label, created_at, preset_v FROM sessions s "
                "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = s.id AND e.type = 'ended') "
                "ORDER BY created_at"
            ).fetchall()
        return [self._stored(r) for r in rows]

    def append_room_event(
        self, room: str, at: float, type_: RoomEventType, data: dict[str, Any] | None = None
    ) -> RoomEvent:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            (seq,) = self._db.execute(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM room_events WHERE room = ?", (room,)
            ).fetchone()
            self._db.execute(
                "INSERT INTO room_events (room, seq, at, type, data, v) VALUES (?, ?, ?, ?, ?, ?)",
                (room, seq, at, type_.value, json.dumps(data or {}), ROOM_EVENTS.version(type_.value)),
            )
        return RoomEvent(seq=seq, at=at, type=type_, data=data or {})

    def room_events(self, room: str) -> list[RoomEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, at, type, data, v FROM room_events WHERE room = ? ORDER BY seq", (room,)
            ).fetchall()
        return [
            RoomEvent(seq=s, at=a, type=RoomEventType(t), data=_current(ROOM_EVENTS, t, v, d)) for s, a, t, d, v in rows
        ]

    def _stored(self, row: tuple[str, str, str, str | None, float, int]) -> StoredSession:
        sid, room, preset_json, label, created, preset_v = row
        preset = load_preset_snapshot(json.loads(preset_json), preset_v, session=sid)
        with self._lock:
            cipher = self._cipher(sid)
        client_label = None if label is None else _open(cipher, label)
        return StoredSession(SessionInfo(id=sid, room=room, preset=preset, client_label=client_label), created)


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
