"""The database lock: one holder at a time, who it is, and never stale after a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.service_lock import DatabaseInUse, database_lock, lock_path

HOLDER = """\
import time
from pathlib import Path
from app.service_lock import database_lock
with database_lock(Path({db!r}), "arcroom serve"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_holder_is_refused_and_told_who_holds_it(tmp_path: Path) -> None:
    db = tmp_path / "arcroom.db"
    refused = pytest.raises(DatabaseInUse, match=rf"in use by arcroom serve \(pid {os.getpid()}\)")
    with database_lock(db, "arcroom serve"), refused, database_lock(db, "arcroom restore"):
        pass
    with database_lock(db, "arcroom restore"):  # released when the block ends
        assert lock_path(db).read_text() == f"arcroom restore (pid {os.getpid()})\n"


def test_a_lock_held_by_a_killed_process_is_free_at_once(tmp_path: Path) -> None:
    db = tmp_path / "arcroom.db"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER.format(db=str(db))], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(DatabaseInUse, match=rf"pid {holder.pid}"), database_lock(db, "arcroom restore"):
            pass
        holder.send_signal(signal.SIGKILL)  # as systemd's watchdog would, with no chance to clean up
        holder.wait(timeout=10)
        with database_lock(db, "arcroom restore"):
            pass
    finally:
        holder.kill()
        holder.communicate()
