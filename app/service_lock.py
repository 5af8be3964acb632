"""One process at a time owns a database: an exclusive advisory lock on `<database>.lock`.

The service holds it for as long as it runs, and `arcroom restore` takes it before replacing the
database, so a restore can never pull the file from under a running service (nor a second service
open the same file). flock(2) locks belong to the open file: the kernel drops them when the holder
exits, however it exits, so a crash or a watchdog kill never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class DatabaseInUse(Exception):
    """Another process holds the database's lock; the message says who."""


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


@contextmanager
def database_lock(database: Path | str, holder: str) -> Iterator[None]:
    """Hold `<database>.lock` exclusively while the block runs, or raise DatabaseInUse at once."""
    if str(database) == ":memory:":
        yield
        return
    path = lock_path(Path(database))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise DatabaseInUse(f"{database} is in use by {who}") from None
        # Who holds it, for the message the next one gets; the lock itself is what counts.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder} (pid {os.getpid()})\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays, so no two processes ever lock different files
