"""Stored shapes are versioned: a record written by an earlier release reads as today's shape,
one written by a later release is refused by name, and a stored preset outlives a removed field."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from app.catalog import load_presets
from app.domain.events import EventType
from app.domain.room_log import RoomEventType
from app.domain.session import SessionInfo, replay
from app.domain.versions import PRESET_SNAPSHOT, ROOM_EVENTS, SESSION_EVENTS, Chain, StoredTooNew
from app.store import SqliteStore

PRESETS = load_presets(Path(__file__).resolve().parents[1] / "presets")

# The schema as the first release wrote it, before any record carried a version.
FIRST_RELEASE_SCHEMA = """
CREATE TABLE sessions (id TEXT PRIMARY KEY, room TEXT NOT NULL, preset_json TEXT NOT NULL,
    client_label TEXT, created_at REAL NOT NULL);
CREATE TABLE events (session_id TEXT NOT NULL REFERENCES sessions(id), seq INTEGER NOT NULL,
    at REAL NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (session_id, seq));
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TABLE room_events (room TEXT NOT NULL, seq INTEGER NOT NULL, at REAL NOT NULL,
    type TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (room, seq));
"""


def first_release_database(path: Path, preset: dict[str, object], events: list[tuple[float, str, dict]]) -> None:
    db = sqlite3.connect(path)
    db.executescript(FIRST_RELEASE_SCHEMA)
    db.execute("INSERT INTO sessions VALUES ('old', 'one', ?, NULL, 0.0)", (json.dumps(preset),))
    for seq, (at, type_, data) in enumerate(events):
        db.execute("INSERT INTO events VALUES ('old', ?, ?, ?, ?)", (seq, at, type_, json.dumps(data)))
    db.execute("INSERT INTO room_events VALUES ('one', 0, 5.0, 'panic', ?)", (json.dumps({"by": "http:tablet"}),))
    db.commit()
    db.close()


@pytest.mark.parametrize("chain", [SESSION_EVENTS, ROOM_EVENTS, PRESET_SNAPSHOT], ids=lambda c: c.what)
def test_every_version_has_a_step_to_the_next(chain: Chain) -> None:
    for type_, latest in chain.current.items():
        for version in range(1, latest):
            assert (type_, version) in chain.steps, f"{chain.what} {type_}: no step from version {version}"


def test_a_first_release_database_opens_and_its_v1_alert_reads_in_todays_shape(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    alert_v1 = {"kind": "threshold", "message": "Systolic 182 mmHg", "field": "systolic_mmhg", "value": 182}
    first_release_database(
        db,
        json.loads(PRESETS["mdma"].model_dump_json()),
        [
            (0.0, "started", {"preset": "mdma"}),
            (60.0, "dose_given", {"amount": 120, "unit": "mg"}),
            (600.0, "reading", {"cue_id": None, "kind": None, "values": {"systolic_mmhg": 182}}),
            (600.0, "alert", alert_v1),
        ],
    )
    store = SqliteStore(db)
    events = store.events("old")
    assert events[3].type is EventType.ALERT
    assert events[3].data == {**alert_v1, "reading_seq": None}
    stored = store.session("old")
    assert stored is not None
    state = replay(stored.info, events, 700.0)
    assert [(a.message, a.reading_seq) for a in state.alerts] == [("Systolic 182 mmHg", None)]
    assert [e.type for e in store.room_events("one")] == [RoomEventType.PANIC]

    # What this release appends beside them is written at today's version, and read back unchanged.
    new = store.append("old", 700.0, EventType.ALERT, {**alert_v1, "reading_seq": 2})
    assert store.events("old")[-1] == new
    store.close()
    raw = sqlite3.connect(db)
    assert raw.execute("SELECT seq, v FROM events WHERE type = 'alert' ORDER BY seq").fetchall() == [
        (3, 1),
        (4, SESSION_EVENTS.version("alert")),
    ]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("UPDATE events SET v = 2")


def test_an_event_written_by_a_newer_release_is_refused_by_name(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = SqliteStore(db)
    store.create_session(SessionInfo(id="s", room="one", preset=PRESETS["lsd"]), 0.0)
    store.close()
    raw = sqlite3.connect(db)
    raw.execute("INSERT INTO events (session_id, seq, at, type, data, v) VALUES ('s', 1, 9.0, 'note', '{}', 7)")
    raw.commit()
    raw.close()
    with pytest.raises(
        StoredTooNew, match="session event 'note' is at version 7, and this release reads up to version 1"
    ):
        SqliteStore(db).events("s")


def test_a_purged_alert_stays_empty_whatever_its_version(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.create_session(SessionInfo(id="s", room="one", preset=PRESETS["mdma"]), 0.0)
    store.append("s", 1.0, EventType.ALERT, {"kind": "fluids", "message": "drink", "reading_seq": None})
    store.append("s", 2.0, EventType.ENDED)
    assert store.purge("s", 3.0, "test", "test")
    assert store.events("s")[1].data == {}  # nothing to bring up to date: what it said is gone


def test_a_stored_preset_with_a_field_since_removed_still_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "old.db"
    preset = json.loads(PRESETS["psilocybin"].model_dump_json())
    preset["music_vendor"] = "a field an earlier release had"
    preset["phases"][1]["colour"] = "amber"
    first_release_database(db, preset, [(0.0, "started", {"preset": "psilocybin"})])
    with caplog.at_level(logging.WARNING):
        stored = SqliteStore(db).session("old")
    assert stored is not None and stored.info.preset == PRESETS["psilocybin"]
    assert "session old" in caplog.text and "music_vendor" in caplog.text and "phases.1.colour" in caplog.text


def test_a_stored_preset_that_is_broken_says_which_session(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    preset = json.loads(PRESETS["psilocybin"].model_dump_json())
    del preset["phases"]
    first_release_database(db, preset, [(0.0, "started", {"preset": "psilocybin"})])
    with pytest.raises(ValueError, match="the preset stored with session old cannot be read"):
        SqliteStore(db).session("old")
