"""The record's schema, changed only by migrations (app/schema.py): one history on both engines,
a database from before migrations were tracked taken up and upgraded, `arcroom db upgrade`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from app import schema
from app.catalog import load_presets
from app.cli import main
from app.domain.events import EventType
from app.store import SqliteStore
from app.stores import open_store
from tests.support import Postgres, unique

# The schema a database had before stored shapes carried versions, and before migrations were
# tracked: what a clinic's first install made.
BEFORE_VERSIONS = """
CREATE TABLE sessions (id TEXT PRIMARY KEY, room TEXT NOT NULL, preset_json TEXT NOT NULL,
    client_label TEXT, created_at REAL NOT NULL);
CREATE TABLE events (session_id TEXT NOT NULL REFERENCES sessions(id), seq INTEGER NOT NULL,
    at REAL NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (session_id, seq));
CREATE TABLE room_events (room TEXT NOT NULL, seq INTEGER NOT NULL, at REAL NOT NULL, type TEXT NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (room, seq));
CREATE TABLE session_keys (session_id TEXT PRIMARY KEY REFERENCES sessions(id), key BLOB NOT NULL);
"""
MIGRATIONS = sorted(p.stem for p in schema.MIGRATIONS.glob("m*.py"))


def test_a_database_from_before_migrations_is_upgraded_and_its_events_read_as_they_were(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    raw = sqlite3.connect(db)
    raw.executescript(BEFORE_VERSIONS)
    preset_json = load_presets(Path(__file__).resolve().parents[1] / "presets")["lsd"].model_dump_json()
    raw.execute("INSERT INTO sessions VALUES ('old', 'one', ?, NULL, 1.0)", (preset_json,))
    raw.execute("INSERT INTO events VALUES ('old', 0, 1.0, 'started', '{}')")
    raw.execute("INSERT INTO events VALUES ('old', 1, 2.0, 'note', ?)", ('{"text": "before"}',))
    raw.commit()
    raw.close()
    assert schema.pending(schema.sqlite_uri(db)) == MIGRATIONS

    store = SqliteStore(db)  # the service upgrades at start-up
    assert [(e.type, e.data) for e in store.events("old")] == [
        (EventType.STARTED, {}),
        (EventType.NOTE, {"text": "before"}),
    ]
    store.append("old", 3.0, EventType.NOTE, {"text": "after"})
    store.close()
    assert schema.pending(schema.sqlite_uri(db)) == []
    applied = {row[0] for row in sqlite3.connect(db).execute("SELECT migration_id FROM _yoyo_migration")}
    assert applied == set(MIGRATIONS)


def test_db_upgrade_brings_a_new_server_database_up_to_date_once(
    postgres: Postgres, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres.database(unique("upgrade").replace("-", "_"))
    monkeypatch.setenv("ARCROOM_DATABASE", url)
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"applied {', '.join(MIGRATIONS)}")
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out.strip().endswith("up to date")
    with psycopg.connect(url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"sessions", "events", "room_events", "session_keys"} <= tables
    open_store(url).close()  # and the service opens it as it is


def test_an_in_memory_record_has_the_same_schema(tmp_path: Path) -> None:
    on_file = SqliteStore(tmp_path / "f.db")
    in_memory = SqliteStore(":memory:")

    def columns(store: SqliteStore) -> dict[str, list[str]]:
        with store._transaction(write=False) as q:
            return {t: [r[1] for r in q(f"PRAGMA table_info({t})", ())] for t in ("sessions", "events", "room_events")}

    assert columns(in_memory) == columns(on_file)
