"""`arcroom backup` with the record on a PostgreSQL server: `pg_dump`, the server's own tool.

A dump is a consistent snapshot taken while the service runs (one transaction), in pg_dump's
custom format, which `pg_restore` reads back into an empty database. For point-in-time recovery
a clinic uses the server's base backups and WAL archiving; docs/configuration.md says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.backup import BackupError


@dataclass(frozen=True)
class Dump:
    path: Path
    size_bytes: int


def dump_name(now: float) -> str:
    return f"arcroom-{datetime.fromtimestamp(now, UTC):%Y%m%dT%H%M%SZ}.dump"


def pg_dump_binary() -> str:
    """Debian's `pg_dump` (its wrapper on PATH, else the newest server's own)."""
    found = shutil.which("pg_dump") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"))[-1:]), None)
    if found is None:
        raise BackupError("pg_dump is not installed: sudo apt-get install postgresql-client")
    return str(found)


def pg_backup(url: str, password: str | None, dest: Path) -> Dump:
    """Dump the record at `url` to `dest` (a new file, or a folder to put a dated file in)."""
    target = dest / dump_name(time.time()) if dest.is_dir() else dest
    if target.exists():
        raise BackupError(f"{target} already exists: give a new file name or a folder")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a folder")
    partial = target.with_name(target.name + ".partial")
    env = {**os.environ, **({"PGPASSWORD": password} if password is not None else {})}
    done = subprocess.run(
        [pg_dump_binary(), "--format=custom", "--no-owner", "--file", str(partial), url],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {done.stderr.strip() or done.returncode}")
    partial.chmod(0o600)  # personal data, sealed or not
    partial.rename(target)
    return Dump(path=target, size_bytes=target.stat().st_size)
