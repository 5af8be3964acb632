"""The record's rules, the same on both stores: a SQLite file and a real PostgreSQL server that the
suite starts itself (tests/support.py Postgres). Every case runs on each."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from app.catalog import load_presets
from app.domain.errors import Conflict
from app.domain.events import EventType
from app.domain.room_log import RoomEventType
from app.domain.session import SessionInfo
from app.store import EventStore, SqliteStore
from app.stores import open_store
from tests.support import Postgres, unique

PRESETS = load_presets(Path(__file__).resolve().parents[1] / "presets")
Opener = Callable[[], EventStore]


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The ARCROOM_DATABASE of a new, empty record: a file path or a server's URL."""
    if request.param == "sqlite":
        return str(tmp_path / "record.db")
    server: Postgres = request.getfixturevalue("postgres")
    return server.database(unique("record").replace("-", "_"))


@pytest.fixture
def opened(database: str) -> Iterator[Opener]:
    """Opens the record as the service does (each call: another connection, as another process)."""
    stores: list[EventStore] = []

    def open_() -> EventStore:
        stores.append(store := open_store(database))
        return store

    yield open_
    for store in stores:
        store.close()


def info(session_id: str, preset: str = "lsd", room: str = "one", label: str | None = None) -> SessionInfo:
    return SessionInfo(id=session_id, room=room, preset=PRESETS[preset], client_label=label)


def test_open_store_picks_the_engine_from_the_setting(database: str, opened: Opener) -> None:
    store = opened()
    assert isinstance(store, SqliteStore) is (not database.startswith("postgresql://"))


def test_a_session_and_its_events_are_kept_and_read_back_by_another_connection(opened: Opener) -> None:
    store = opened()
    store.create_session(info("a", "esketamine", label="E-1"), 100.0)
    store.append("a", 160.0, EventType.DOSE_GIVEN, {"amount": "56 mg"})
    store.create_session(info("b", room="two"), 200.0)
    store.append("b", 300.0, EventType.ENDED)

    other = opened()
    assert [s.info.id for s in other.unfinished_sessions()] == ["a"]
    stored = other.session("a")
    assert stored is not None and stored.created_at == 100.0
    assert stored.info.preset == PRESETS["esketamine"] and stored.info.client_label == "E-1"
    assert [(e.seq, e.at, e.type, e.data) for e in other.events("a")] == [
        (0, 100.0, EventType.STARTED, {}),
        (1, 160.0, EventType.DOSE_GIVEN, {"amount": "56 mg"}),
    ]
    assert [s.info.id for s in other.sessions_since(150.0)] == ["b"]
    assert other.session("nobody") is None and other.events("nobody") == []


def test_two_writers_on_one_log_lose_and_repeat_nothing(opened: Opener) -> None:
    first, second = opened(), opened()
    first.create_session(info("a"), 0.0)
    errors: list[BaseException] = []

    def write(store: EventStore, tag: str) -> None:
        try:
            for i in range(100):
                store.append("a", float(i), EventType.NOTE, {"text": f"{tag}{i}"})
        except Exception as exc:  # noqa: BLE001 - a thread's error is kept for the assertion below
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(s, tag)) for s, tag in ((first, "x"), (second, "y"))]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    assert errors == []
    events = opened().events("a")
    assert [e.seq for e in events] == list(range(201))
    notes = sorted(e.data["text"] for e in events[1:])
    assert notes == sorted([f"x{i}" for i in range(100)] + [f"y{i}" for i in range(100)])


def test_the_database_refuses_to_change_or_delete_an_event(database: str, opened: Opener) -> None:
    store = opened()
    store.create_session(info("a"), 1.0)
    store.append_room_event("one", 2.0, RoomEventType.PANIC, {"by": "test"})
    for statement in ("UPDATE events SET at = 0", "DELETE FROM events", "UPDATE room_events SET at = 0"):
        if database.startswith("postgresql://"):
            with psycopg.connect(database) as raw, pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                raw.execute(statement)
        else:
            with sqlite3.connect(database) as raw, pytest.raises(sqlite3.IntegrityError, match="append-only"):
                raw.execute(statement)
    if database.startswith("postgresql://"):
        with psycopg.connect(database) as raw, pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            raw.execute("TRUNCATE events CASCADE")
    assert len(opened().events("a")) == 1


def test_purging_shreds_what_the_session_said_and_keeps_its_shape(opened: Opener) -> None:
    store = opened()
    store.create_session(info("a", label="Client 7"), 0.0)
    store.append("a", 10.0, EventType.NOTE, {"text": "private"})
    with pytest.raises(ValueError, match="still running"):
        store.purge("a", 20.0, "retention", "test")
    store.append("a", 30.0, EventType.ENDED)
    assert store.purgeable(ended_before=31.0) == ["a"] and store.purgeable(ended_before=30.0) == []
    assert store.purge("a", 40.0, "retention", "test") is True
    assert store.purge("a", 41.0, "retention", "test") is False

    other = opened()
    events = other.events("a")
    assert [e.type for e in events] == [EventType.STARTED, EventType.NOTE, EventType.ENDED, EventType.PURGED]
    assert events[1].data == {} and events[3].data == {"reason": "retention", "by": "test"}
    stored = other.session("a")
    assert stored is not None and stored.info.client_label is None
    assert other.purgeable(ended_before=1e12) == []


def test_a_short_id_names_one_session_or_is_refused(opened: Opener) -> None:
    store = opened()
    store.create_session(info("abcdef0123"), 0.0)
    store.create_session(info("abcdef9999"), 1.0)
    store.create_session(info("0123456789"), 2.0)
    assert store.resolve("0123456789") == "0123456789"
    assert store.resolve("012345") == "0123456789"
    assert store.resolve("01234") is None  # too short to stand for an id
    assert store.resolve("ffffff") is None
    with pytest.raises(Conflict, match="more than one"):
        store.resolve("abcdef")


def test_rems_forms_owed_are_the_dosed_sessions_of_a_rems_preset_not_yet_filed(opened: Opener) -> None:
    store = opened()
    for sid, preset in (("due", "esketamine"), ("filed", "esketamine"), ("undosed", "esketamine"), ("lsd", "lsd")):
        store.create_session(info(sid, preset), 0.0)
    for sid in ("due", "filed", "lsd"):
        store.append(sid, 1.0, EventType.DOSE_GIVEN, {})
    store.append("filed", 2.0, EventType.REMS_FILED, {})
    assert [s.info.id for s in store.rems_unfiled()] == ["due"]


def test_a_room_s_own_log_is_kept_in_order(opened: Opener) -> None:
    store = opened()
    store.append_room_event("one", 1.0, RoomEventType.PANIC, {"by": "tablet"})
    store.append_room_event("two", 2.0, RoomEventType.PANIC, {"by": "button"})
    store.append_room_event("one", 3.0, RoomEventType.PANIC_CLEARED, {"mode": "restore", "by": "tablet"})
    events = opened().room_events("one")
    assert [(e.seq, e.type, e.data["by"]) for e in events] == [
        (0, RoomEventType.PANIC, "tablet"),
        (1, RoomEventType.PANIC_CLEARED, "tablet"),
    ]
