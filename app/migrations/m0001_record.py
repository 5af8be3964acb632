"""The record's schema as it was when migrations began to be tracked: sessions, their events, the
rooms' own logs, the sessions' keys.

Written with IF NOT EXISTS throughout: a database made before migrations were tracked (by the
service itself, at start-up) is taken up as it is. On PostgreSQL the logs are guarded by
triggers (UPDATE, DELETE and TRUNCATE refused), as SQLite's are.
"""

import sqlite3
from typing import Any

from yoyo import step

SQLITE = """
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

POSTGRESQL = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    room TEXT NOT NULL,
    preset_json TEXT NOT NULL,
    client_label TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    preset_v INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    v INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (session_id, seq)
);
CREATE INDEX IF NOT EXISTS events_by_type ON events(type);
-- A room's own log (panic, manual lighting), kept whether or not a session runs.
CREATE TABLE IF NOT EXISTS room_events (
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    v INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (room, seq)
);
-- One key per session for its personal data; deleting the row is purging the session.
CREATE TABLE IF NOT EXISTS session_keys (
    session_id TEXT PRIMARY KEY REFERENCES sessions(id),
    key BYTEA NOT NULL
);
-- The logs are append-only: corrections are new events, never edits (TRUNCATE included).
CREATE OR REPLACE FUNCTION arcroom_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'events are append-only'; END $$;
CREATE OR REPLACE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION arcroom_append_only();
CREATE OR REPLACE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION arcroom_append_only();
CREATE OR REPLACE TRIGGER room_events_no_change BEFORE UPDATE OR DELETE ON room_events
    FOR EACH ROW EXECUTE FUNCTION arcroom_append_only();
CREATE OR REPLACE TRIGGER room_events_no_truncate BEFORE TRUNCATE ON room_events
    FOR EACH STATEMENT EXECUTE FUNCTION arcroom_append_only();
"""


def apply(conn: Any) -> None:
    if type(conn).__module__.startswith("sqlite3"):
        for statement in statements(SQLITE):
            conn.execute(statement)
    else:
        conn.execute(POSTGRESQL)


def statements(script: str) -> list[str]:
    """A SQLite script's statements one by one (a trigger's body has semicolons of its own)."""
    out, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            out.append(pending.strip())
            pending = ""
    return out


steps = [step(apply)]
