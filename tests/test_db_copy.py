"""`arcroom db copy`: a clinic's record moved from its SQLite file to a PostgreSQL server (and back),
checked event for event; the service then serves it from the server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.catalog import load_presets
from app.cli import main
from app.domain.clock import ManualClock
from app.domain.events import EventType
from app.domain.room_log import RoomEventType
from app.domain.session import SessionInfo
from app.settings import Settings
from app.store import SqliteStore
from app.stores import open_store
from tests.conftest import serve_in_process
from tests.support import Postgres, unique

PRESETS = load_presets(Path(__file__).resolve().parents[1] / "presets")
DEMO_ROOMS = Path(__file__).resolve().parents[1] / "rooms.demo.yaml"


def a_record(path: Path) -> None:
    store = SqliteStore(path)
    store.create_session(SessionInfo(id="kept", room="one", preset=PRESETS["mdma"], client_label="M-3"), 10.0)
    store.append("kept", 20.0, EventType.DOSE_GIVEN, {"amount": "120 mg"})
    store.append("kept", 30.0, EventType.NOTE, {"text": "calm"})
    store.create_session(SessionInfo(id="shredded", room="two", preset=PRESETS["lsd"], client_label="L-1"), 40.0)
    store.append("shredded", 50.0, EventType.ENDED)
    store.purge("shredded", 60.0, "retention", "test")
    store.append_room_event("one", 70.0, RoomEventType.PANIC, {"by": "tablet"})
    store.close()


def test_a_record_moves_to_postgresql_and_back_the_same_and_a_full_target_is_refused(
    tmp_path: Path, postgres: Postgres, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "arcroom.db"
    a_record(source)
    server = postgres.database(unique("copy").replace("-", "_"))

    assert main(["db", "copy", str(source), server]) == 0
    assert "copied 2 sessions, 6 events, 1 keys and 1 room events" in capsys.readouterr().out
    on_server = open_store(server)
    kept = on_server.session("kept")
    assert kept is not None and kept.info.client_label == "M-3"
    assert [e.data for e in on_server.events("kept")][1:] == [{"amount": "120 mg"}, {"text": "calm"}]
    shredded = on_server.session("shredded")
    assert shredded is not None and shredded.info.client_label is None  # purged stays purged
    assert [e.type for e in on_server.room_events("one")] == [RoomEventType.PANIC]
    on_server.close()

    assert main(["db", "copy", str(source), server]) == 1
    assert "already holds a record (2 sessions, 1 session_keys, 6 events, 1 room_events)" in capsys.readouterr().err

    back = tmp_path / "back.db"
    assert main(["db", "copy", server, str(back)]) == 0
    original, returned = SqliteStore(source), SqliteStore(back)
    assert returned.events("kept") == original.events("kept") and returned.session("kept") == original.session("kept")
    original.close()
    returned.close()


def test_a_missing_source_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "copy", str(tmp_path / "nowhere.db"), str(tmp_path / "t.db")]) == 2
    assert "no database at" in capsys.readouterr().err


async def test_the_demo_clinic_moves_to_the_server_and_is_served_from_there(
    settings: Settings, clock: ManualClock, postgres: Postgres
) -> None:
    demo = settings.model_copy(update={"rooms_file": DEMO_ROOMS})
    async with serve_in_process(demo, clock) as svc:
        r = await svc.client.post("/api/rooms/demo/session", json={"preset": "psilocybin", "client_label": "P-2"})
        assert r.status_code == 201, r.text
        session_id = r.json()["session_id"]
        await svc.client.post("/api/rooms/demo/session/dose", json={})
        await svc.client.post("/api/rooms/demo/panic")
    server = postgres.database(unique("moved").replace("-", "_"))
    assert main(["db", "copy", str(settings.database), server]) == 0
    async with serve_in_process(demo.model_copy(update={"database": server}), clock) as svc:
        view = (await svc.client.get("/api/rooms/demo/state")).json()
        assert view["session"]["session_id"] == session_id and view["session"]["client_label"] == "P-2"
        assert view["session"]["phase"] == "onset" and view["panic"]["active"] is True  # the room's own log too


def test_a_backup_on_postgresql_is_a_pg_dump_that_pg_restore_reads_back(
    tmp_path: Path, postgres: Postgres, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "arcroom.db"
    a_record(source)
    server = postgres.database(unique("dumped").replace("-", "_"))
    assert main(["db", "copy", str(source), server]) == 0
    monkeypatch.setenv("ARCROOM_DATABASE", server)
    assert main(["backup", f"{tmp_path}/backups/"]) == 0
    (dump,) = (tmp_path / "backups").glob("arcroom-*.dump")
    assert f"to {dump} with pg_dump" in capsys.readouterr().out
    assert dump.stat().st_mode & 0o077 == 0  # for the service's user alone

    restored = postgres.database(unique("restored").replace("-", "_"))
    pg_restore = postgres.bin / "pg_restore"
    subprocess.run([str(pg_restore), "--no-owner", f"--dbname={restored}", str(dump)], check=True, timeout=60)
    back = open_store(restored)
    assert back.events("kept") == SqliteStore(source).events("kept")
    back.close()


def test_restore_and_export_say_what_to_use_on_postgresql(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("ARCROOM_DATABASE", "postgresql://arcroom:pw-kept-out@db.clinic.lan/arcroom")
    assert main(["restore", str(tmp_path / "copy.db")]) == 2
    err = capsys.readouterr().err
    assert "the record is on a PostgreSQL server (postgresql://arcroom:***@db.clinic.lan/arcroom)" in err
    assert "pg_restore" in err and "pw-kept-out" not in err
