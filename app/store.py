"""SQLite event store: sessions and their append-only event logs."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.domain.events import Event, EventType
from app.domain.presets import Preset
from app.domain.room_log import RoomEvent, RoomEventType
from app.domain.session import SessionInfo

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    room TEXT NOT NULL,
    preset_json TEXT NOT NULL,
    client_label TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
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
    PRIMARY KEY (room, seq)
);
CREATE TRIGGER IF NOT EXISTS room_events_no_update BEFORE UPDATE ON room_events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS room_events_no_delete BEFORE DELETE ON room_events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
"""


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
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create_session(self, info: SessionInfo, at: float, data: dict[str, Any] | None = None) -> Event:
        """Record a new session and its `started` event, atomically."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO sessions (id, room, preset_json, client_label, created_at) VALUES (?, ?, ?, ?, ?)",
                (info.id, info.room, info.preset.model_dump_json(), info.client_label, at),
            )
            return self._insert(info.id, 0, at, EventType.STARTED, data or {})

    def append(self, session_id: str, at: float, type_: EventType, data: dict[str, Any] | None = None) -> Event:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            (seq,) = self._db.execute(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM events WHERE session_id = ?", (session_id,)
            ).fetchone()
            return self._insert(session_id, seq, at, type_, data or {})

    def _insert(self, session_id: str, seq: int, at: float, type_: EventType, data: dict[str, Any]) -> Event:
        self._db.execute(
            "INSERT INTO events (session_id, seq, at, type, data) VALUES (?, ?, ?, ?, ?)",
            (session_id, seq, at, type_.value, json.dumps(data)),
        )
        return Event(seq=seq, at=at, type=type_, data=data)

    def events(self, session_id: str) -> list[Event]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, at, type, data FROM events WHERE session_id = ? ORDER BY seq", (session_id,)
            ).fetchall()
        return [Event(seq=s, at=a, type=EventType(t), data=json.loads(d)) for s, a, t, d in rows]

    def session(self, session_id: str) -> StoredSession | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, room, preset_json, client_label, created_at FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
        return _stored(row) if row else None

    def sessions_since(self, since: float) -> list[StoredSession]:
        """Sessions created at or after `since`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, room, preset_json, client_label, created_at FROM sessions WHERE created_at >= ? "
                "ORDER BY created_at",
                (since,),
            ).fetchall()
        return [_stored(r) for r in rows]

    def unfinished_sessions(self) -> list[StoredSession]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, room, preset_json, client_label, created_at FROM sessions s "
                "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = s.id AND e.type = 'ended') "
                "ORDER BY created_at"
            ).fetchall()
        return [_stored(r) for r in rows]

    def append_room_event(
        self, room: str, at: float, type_: RoomEventType, data: dict[str, Any] | None = None
    ) -> RoomEvent:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            (seq,) = self._db.execute(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM room_events WHERE room = ?", (room,)
            ).fetchone()
            self._db.execute(
                "INSERT INTO room_events (room, seq, at, type, data) VALUES (?, ?, ?, ?, ?)",
                (room, seq, at, type_.value, json.dumps(data or {})),
            )
        return RoomEvent(seq=seq, at=at, type=type_, data=data or {})

    def room_events(self, room: str) -> list[RoomEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, at, type, data FROM room_events WHERE room = ? ORDER BY seq", (room,)
            ).fetchall()
        return [RoomEvent(seq=s, at=a, type=RoomEventType(t), data=json.loads(d)) for s, a, t, d in rows]


def _stored(row: tuple[str, str, str, str | None, float]) -> StoredSession:
    sid, room, preset_json, label, created = row
    preset = Preset.model_validate_json(preset_json)
    return StoredSession(SessionInfo(id=sid, room=room, preset=preset, client_label=label), created)
