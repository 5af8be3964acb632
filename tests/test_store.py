"""The SQLite event store keeps sessions across connections and never lets an event change."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.catalog import load_presets
from app.domain.events import EventType
from app.domain.session import SessionInfo
from app.store import SqliteStore

PRESETS = load_presets(Path(__file__).resolve().parents[1] / "presets")


def test_events_survive_reopening_and_unfinished_sessions_are_listed(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = SqliteStore(db)
    info = SessionInfo(id="a", room="one", preset=PRESETS["esketamine"], client_label="E-1")
    store.create_session(info, 100.0)
    store.append("a", 160.0, EventType.DOSE_GIVEN, {"amount": "56 mg"})
    store.create_session(SessionInfo(id="b", room="two", preset=PRESETS["lsd"]), 200.0)
    store.append("b", 300.0, EventType.ENDED)
    store.close()

    reopened = SqliteStore(db)
    assert [s.info.id for s in reopened.unfinished_sessions()] == ["a"]
    stored = reopened.session("a")
    assert stored is not None and stored.info.preset == PRESETS["esketamine"] and stored.info.client_label == "E-1"
    events = reopened.events("a")
    assert [(e.seq, e.at, e.type, e.data) for e in events] == [
        (0, 100.0, EventType.STARTED, {}),
        (1, 160.0, EventType.DOSE_GIVEN, {"amount": "56 mg"}),
    ]


def test_the_log_is_append_only(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = SqliteStore(db)
    store.create_session(SessionInfo(id="a", room="one", preset=PRESETS["lsd"]), 1.0)
    store.close()
    raw = sqlite3.connect(db)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("UPDATE events SET at = 0")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("DELETE FROM events")
