"""Backups, restores and exports of the session database, for `arcroom backup|restore|export`.

A backup is SQLite's online backup API copying the live file in one step: one read transaction,
so the copy is the database as it was at one instant, while the service goes on writing (in WAL
mode readers never block the writer). The copy is then switched out of WAL mode so that it is
one self-contained file, checked, and only then given its name.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.request import pathname2url
from zoneinfo import ZoneInfo

from app.domain.errors import Conflict
from app.domain.report import UTC_ZONE, build_report, iso, report_csv
from app.service_lock import DatabaseInUse, database_lock, lock_path
from app.store import SqliteStore


class BackupError(Exception):
    """A backup, restore or export that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Copy:
    """A database file written by a backup or restore, and what it holds."""

    path: Path
    sessions: int
    events: int
    size_bytes: int


@dataclass(frozen=True)
class Restored:
    database: Copy
    previous: Copy | None  # the database that was replaced, kept beside it


def backup_name(now: float) -> str:
    return f"arcroom-{datetime.fromtimestamp(now, UTC):%Y%m%dT%H%M%SZ}.db"


def backup(database: Path, dest: Path) -> Copy:
    """Copy the database, live, to `dest` (a new file, or a folder to put a dated file in)."""
    target = dest / backup_name(time.time()) if dest.is_dir() else dest
    if target.exists():
        raise BackupError(f"{target} already exists: give a new file name or a folder")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a folder")
    source = _open_existing(database)
    try:
        return _copy(source, target)
    finally:
        source.close()


def restore(src: Path, database: Path) -> Restored:
    """Replace the database with the backup `src`; refused while anything has the database open.

    The database being replaced is first copied beside it (`<name>.before-restore-<time>`), so a
    restore of the wrong file loses nothing.
    """
    if src.resolve() == database.resolve():
        raise BackupError(f"{src} is the database itself: restore from a backup")
    source = _open_existing(src, read_only=True)
    try:
        _check_arcroom_database(source, src)
        try:
            with database_lock(database, "arcroom restore"):
                return _restore_locked(source, database)
        except DatabaseInUse as exc:
            raise BackupError(f"{exc}: stop the service first (e.g. systemctl stop arcroom)") from None
    finally:
        source.close()


def _restore_locked(source: sqlite3.Connection, database: Path) -> Restored:
    database.parent.mkdir(parents=True, exist_ok=True)
    existed = database.exists()
    # timeout=0: an open connection elsewhere means "in use", at once, not after a wait.
    live = sqlite3.connect(database, isolation_level=None, timeout=0)
    try:
        try:
            # Leaving WAL mode needs every other connection closed: a second guard, kept by SQLite
            # itself, for a process that does not take the lock file (an older service, a sqlite3 shell).
            live.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.OperationalError as exc:
            raise BackupError(
                f"{database} is open in another process ({exc}): stop the service first (e.g. systemctl stop arcroom)"
            ) from None
        previous = None
        if existed:
            previous = _copy(
                live, _unused(database.with_name(f"{database.name}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"))
            )
        source.backup(live)
        live.execute("PRAGMA journal_mode=WAL")  # as the event store keeps it
        _check(live, database)
        restored = Copy(database, *_counts(live), database.stat().st_size)
    finally:
        live.close()
    _owned_like_their_folder([database, lock_path(database)] + ([previous.path] if previous else []))
    return Restored(restored, previous)


def _owned_like_their_folder(paths: list[Path]) -> None:
    """Run as root (sudo, a container's root), give what restore created to the service's user."""
    if os.geteuid() != 0:
        return
    for path in paths:
        folder = path.parent.stat()
        if path.exists() and (path.stat().st_uid, path.stat().st_gid) != (folder.st_uid, folder.st_gid):
            os.chown(path, folder.st_uid, folder.st_gid)


def export_session(
    database: Path, session_id: str, directory: Path, now: float | None = None, tz: ZoneInfo = UTC_ZONE
) -> list[Path]:
    """Write a session's events (JSON) and its report as of `now` (JSON and CSV, times in `tz`) into `directory`."""
    _open_existing(database).close()  # the store would create a missing file; say it is missing instead
    store = SqliteStore(database)
    try:
        try:
            full_id = store.resolve(session_id)
        except Conflict as exc:
            raise BackupError(exc.message) from None
        stored = store.session(full_id) if full_id else None
        if stored is None:
            raise BackupError(f"no session {session_id!r} in {database}")
        events = store.events(stored.info.id)
    finally:
        store.close()
    info = stored.info
    report = build_report(info, events, time.time() if now is None else now, tz=tz)
    record = {
        "session": {
            "id": info.id,
            "room": info.room,
            "client_label": info.client_label,
            "created_at": iso(stored.created_at),
            "preset": info.preset.model_dump(mode="json"),
        },
        "events": [{**e.model_dump(mode="json"), "at_iso": iso(e.at)} for e in events],
    }
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, text in (
        ("events.json", json.dumps(record, indent=2, ensure_ascii=False) + "\n"),
        ("report.json", report.model_dump_json(indent=2) + "\n"),
        ("report.csv", report_csv(report)),
    ):
        path = directory / f"session-{info.id}-{suffix}"
        _write_private(path, text)
        written.append(path)
    return written


def _open_existing(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    if not path.is_file():
        raise BackupError(f"no database at {path}")
    # mode=rw/ro never creates a file, so a mistyped path cannot leave an empty database behind.
    mode = "ro" if read_only else "rw"
    return sqlite3.connect(f"file:{pathname2url(str(path.resolve()))}?mode={mode}", uri=True, isolation_level=None)


def _copy(source: sqlite3.Connection, target: Path) -> Copy:
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    # Created private: the sessions hold personal health data.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        dest = sqlite3.connect(partial, isolation_level=None)
        try:
            source.backup(dest)  # pages=-1: everything in one step, one consistent snapshot
            dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            _check(dest, target)
            sessions, events = _counts(dest)
        finally:
            dest.close()
        _fsync(partial)
        os.replace(partial, target)
        _fsync(target.parent)
    finally:
        partial.unlink(missing_ok=True)
    return Copy(target, sessions, events, target.stat().st_size)


def _unused(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _check(db: sqlite3.Connection, path: Path) -> None:
    (result,) = db.execute("PRAGMA integrity_check").fetchone()
    if result != "ok":
        raise BackupError(f"{path}: integrity check failed: {result}")


def _check_arcroom_database(db: sqlite3.Connection, path: Path) -> None:
    try:
        _check(db, path)
        db.execute("SELECT id, room, preset_json, client_label, created_at FROM sessions LIMIT 1").fetchall()
        db.execute("SELECT session_id, seq, at, type, data FROM events LIMIT 1").fetchall()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not an Arcroom database ({exc})") from None


def _counts(db: sqlite3.Connection) -> tuple[int, int]:
    try:
        (sessions,) = db.execute("SELECT COUNT(*) FROM sessions").fetchone()
        (events,) = db.execute("SELECT COUNT(*) FROM events").fetchone()
    except sqlite3.OperationalError:  # a database the service has not initialised yet
        return 0, 0
    return int(sessions), int(events)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
