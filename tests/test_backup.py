"""Backups under writes, restores that refuse a running service, and session exports."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from app.backup import BackupError, backup, export_session, restore
from app.catalog import load_presets
from app.cli import main
from app.domain.errors import Conflict
from app.domain.events import EventType
from app.domain.report import Report, build_report, report_csv
from app.domain.session import SessionInfo, replay
from app.service_lock import database_lock
from app.store import SqliteStore

PRESETS = load_presets(Path(__file__).resolve().parents[1] / "presets")
T0 = 1_800_000_000.0


def a_session(store: SqliteStore, session_id: str = "s1", label: str | None = "P-017") -> SessionInfo:
    info = SessionInfo(id=session_id, room="room1", preset=PRESETS["psilocybin"], client_label=label)
    store.create_session(info, T0)
    store.append(session_id, T0 + 600, EventType.DOSE_GIVEN, {"amount": "25 mg"})
    return info


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_backup_taken_under_writes_restores_into_a_store_that_continues_the_session(tmp_path: Path) -> None:
    live_db = tmp_path / "live" / "arcroom.db"
    store = SqliteStore(live_db)
    info = a_session(store)
    appended = threading.Semaphore(0)
    stop = threading.Event()

    def writer() -> None:  # a session in full flow: notes as fast as the store takes them
        i = 0
        while not stop.is_set():
            store.append("s1", T0 + 700 + i, EventType.NOTE, {"text": f"note {i}"})
            appended.release()
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(200):
            assert appended.acquire(timeout=10)
        copy = backup(live_db, tmp_path)  # a folder: the backup gets a dated name
        for _ in range(200):
            assert appended.acquire(timeout=10)
    finally:
        stop.set()
        thread.join()
    live_events = store.events("s1")
    store.close()

    assert copy.path.parent == tmp_path and copy.path.name.startswith("arcroom-") and private(copy.path)
    assert not list(tmp_path.glob(".*partial*"))
    # A consistent snapshot from the middle of the session: a gap-free prefix of what was written.
    assert 202 <= copy.events < len(live_events) and copy.sessions == 1

    restored = restore(copy.path, tmp_path / "new" / "arcroom.db")
    assert restored.previous is None and restored.database.events == copy.events
    new_store = SqliteStore(tmp_path / "new" / "arcroom.db")
    events = new_store.events("s1")
    assert events == live_events[: copy.events]
    assert [s.info for s in new_store.unfinished_sessions()] == [info]
    state = replay(info, events, T0 + 3600)
    assert state.dose_at == T0 + 600 and state.status == "running"
    # The restored service goes on with the session where the backup left it.
    more = new_store.append("s1", T0 + 3600, EventType.NOTE, {"text": "after the restore"})
    assert more.seq == copy.events
    assert new_store.events("s1")[-1] == more
    new_store.close()


def test_restore_is_refused_while_the_service_holds_the_database(tmp_path: Path) -> None:
    db, other = tmp_path / "arcroom.db", tmp_path / "other.db"
    store = SqliteStore(db)
    a_session(store)
    store.close()
    copy = backup(db, tmp_path / "backup.db")
    store = SqliteStore(other)
    a_session(store, "s2")
    store.close()
    refused = pytest.raises(BackupError, match=r"in use by arcroom serve \(pid \d+\): stop the service first")
    with database_lock(other, "arcroom serve"), refused:  # the lock: what the service holds while it runs
        restore(copy.path, other)
    assert [e.seq for e in SqliteStore(other).events("s2")] == [0, 1]  # untouched
    assert not list(tmp_path.glob("other.db.before-restore*"))


def test_restore_is_refused_while_another_process_has_the_database_open(tmp_path: Path) -> None:
    db = tmp_path / "arcroom.db"
    copy_source = SqliteStore(tmp_path / "src.db")
    a_session(copy_source, "from-backup")
    copy_source.close()
    copy = backup(tmp_path / "src.db", tmp_path / "backup.db")
    store = SqliteStore(db)  # open, as a service that does not take the lock file would have it
    a_session(store)
    with pytest.raises(BackupError, match="open in another process"):
        restore(copy.path, db)
    assert store.session("from-backup") is None and len(store.events("s1")) == 2
    store.close()


def test_restore_keeps_the_database_it_replaces(tmp_path: Path) -> None:
    db = tmp_path / "arcroom.db"
    store = SqliteStore(db)
    a_session(store, "old")
    store.close()
    src = SqliteStore(tmp_path / "src.db")
    a_session(src, "new")
    src.close()
    copy = backup(tmp_path / "src.db", tmp_path / "backup.db")

    restored = restore(copy.path, db)
    assert restored.previous is not None and restored.previous.path.name.startswith("arcroom.db.before-restore-")
    assert private(restored.previous.path)
    kept = SqliteStore(restored.previous.path)
    assert kept.session("old") is not None and kept.session("new") is None
    kept.close()
    now = SqliteStore(db)
    assert now.session("new") is not None and now.session("old") is None
    now.close()


def test_restore_refuses_a_file_that_is_not_an_arcroom_backup(tmp_path: Path) -> None:
    db = tmp_path / "arcroom.db"
    store = SqliteStore(db)
    a_session(store)
    store.close()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BackupError, match=r"junk.db is not an Arcroom database \(file is not a database\)"):
        restore(junk, db)
    with pytest.raises(BackupError, match="no database at"):
        restore(tmp_path / "missing.db", db)
    with pytest.raises(BackupError, match="is the database itself"):
        restore(db, db)
    assert len(SqliteStore(db).events("s1")) == 2


def test_backup_never_overwrites_and_never_invents_a_database(tmp_path: Path) -> None:
    db = tmp_path / "arcroom.db"
    SqliteStore(db).close()
    (tmp_path / "taken.db").write_text("keep me")
    with pytest.raises(BackupError, match="already exists"):
        backup(db, tmp_path / "taken.db")
    assert (tmp_path / "taken.db").read_text() == "keep me"
    with pytest.raises(BackupError, match="no database at"):
        backup(tmp_path / "typo.db", tmp_path / "out.db")
    assert not (tmp_path / "typo.db").exists() and not (tmp_path / "out.db").exists()


def test_export_writes_the_events_and_the_report(tmp_path: Path) -> None:
    db = tmp_path / "arcroom.db"
    store = SqliteStore(db)
    info = a_session(store)
    store.append("s1", T0 + 900, EventType.NOTE, {"text": "calm, eyes closed"})
    events = store.events("s1")
    store.close()

    files = export_session(db, "s1", tmp_path / "export", now=T0 + 900)
    assert [f.name for f in files] == ["session-s1-events.json", "session-s1-report.json", "session-s1-report.csv"]
    assert all(private(f) for f in files)
    record = json.loads(files[0].read_text())
    assert record["session"]["client_label"] == "P-017" and record["session"]["preset"]["id"] == "psilocybin"
    assert [(e["seq"], e["type"], e["data"]) for e in record["events"]] == [
        (0, "started", {}),
        (1, "dose_given", {"amount": "25 mg"}),
        (2, "note", {"text": "calm, eyes closed"}),
    ]
    assert record["events"][1]["at_iso"] == "2027-01-15T08:10:00+00:00"
    report = Report.model_validate_json(files[1].read_text())
    assert report.session_id == "s1" and report.notes == [
        {"at": "2027-01-15T08:15:00+00:00", "text": "calm, eyes closed"}
    ]
    assert report == build_report(info, events, T0 + 900)
    # The CSV is the report's timeline, as the API serves it.
    assert files[2].read_bytes().decode() == report_csv(report)
    rows = list(csv.DictReader(io.StringIO(files[2].read_bytes().decode())))
    assert [r["kind"] for r in rows if r["kind"] != "phase"] == ["started", "dose_given", "note"]
    with pytest.raises(BackupError, match="no session 'nope'"):
        export_session(db, "nope", tmp_path / "export")


def test_export_takes_the_short_id_a_downloaded_file_is_named_by(tmp_path: Path) -> None:
    db = tmp_path / "arcroom.db"
    store = SqliteStore(db)
    a_session(store, "3f2a9c41d0e84b7fa1c2d3e4f5a6b7c8")
    a_session(store, "7b10aa00c0ffee0011223344556677aa")
    a_session(store, "7b10aa01c0ffee0011223344556677aa")
    assert store.resolve("3f2a9c41") == "3f2a9c41d0e84b7fa1c2d3e4f5a6b7c8"  # as the dashboard names files
    assert store.resolve("3f2a9c41d0e84b7fa1c2d3e4f5a6b7c8") == "3f2a9c41d0e84b7fa1c2d3e4f5a6b7c8"
    assert store.resolve("3f2a9") is None  # too short to stand for one
    assert store.resolve("7b10aa00") == "7b10aa00c0ffee0011223344556677aa"
    with pytest.raises(Conflict, match="'7b10aa' is the start of more than one session's id"):
        store.resolve("7b10aa")
    store.close()

    files = export_session(db, "3f2a9c41", tmp_path / "export", now=T0 + 900)
    assert files[0].name == "session-3f2a9c41d0e84b7fa1c2d3e4f5a6b7c8-events.json"
    with pytest.raises(BackupError, match="more than one session's id: give more of it"):
        export_session(db, "7b10aa", tmp_path / "export")


def test_the_commands_back_up_restore_and_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "arcroom.db"
    monkeypatch.setenv("ARCROOM_DATABASE", str(db))
    store = SqliteStore(db)
    a_session(store)
    store.close()

    assert main(["backup", str(tmp_path / "b.db")]) == 0
    assert f"to {tmp_path / 'b.db'}: 1 sessions, 2 events" in capsys.readouterr().out
    with database_lock(db, "arcroom serve"):
        assert main(["restore", str(tmp_path / "b.db")]) == 1
        assert "in use by arcroom serve" in capsys.readouterr().err
    assert main(["restore", str(tmp_path / "b.db")]) == 0
    out = capsys.readouterr().out
    assert "kept the replaced database as" in out and f"to {db}: 1 sessions, 2 events" in out
    assert main(["export", "s1", str(tmp_path / "x")]) == 0
    assert capsys.readouterr().out.split() == [
        str(tmp_path / "x" / f"session-s1-{n}") for n in ("events.json", "report.json", "report.csv")
    ]
    assert main(["export", "missing", str(tmp_path / "x")]) == 1
    assert "arcroom export: no session 'missing'" in capsys.readouterr().err


def test_a_restore_run_as_root_leaves_the_files_to_the_services_user(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: this is what `sudo arcroom restore` does")  # CI and ./dev run as root here
    data = tmp_path / "var-lib-arcroom"
    data.mkdir()
    os.chown(data, 4321, 4321)  # the folder belongs to the service's user
    src = SqliteStore(tmp_path / "src.db")
    a_session(src)
    src.close()
    copy = backup(tmp_path / "src.db", tmp_path / "backup.db")
    restore(copy.path, data / "arcroom.db")  # a fresh data folder: restore creates the database
    for path in (data / "arcroom.db", data / "arcroom.db.lock"):
        assert (path.stat().st_uid, path.stat().st_gid) == (4321, 4321), path


def test_a_backup_folder_given_with_a_slash_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "arcroom.db"
    SqliteStore(db).close()
    monkeypatch.setenv("ARCROOM_DATABASE", str(db))
    assert main(["backup", f"{tmp_path}/backups/"]) == 0
    (copy,) = (tmp_path / "backups").iterdir()
    assert copy.name.startswith("arcroom-") and copy.suffix == ".db"
    assert stat.S_IMODE((tmp_path / "backups").stat().st_mode) == 0o700
