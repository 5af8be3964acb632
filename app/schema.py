"""The record's schema, changed only by migrations (app/migrations/, applied with yoyo-migrations):
the same history on a SQLite file and on PostgreSQL, each migration recorded in the database
itself, applied at start-up or ahead of it by `arcroom db upgrade`, under yoyo's lock so two
services starting at once do not both apply one.

To change the schema: add `app/migrations/mNNNN_what.py` with `steps = [step(apply)]`, where
`apply(conn)` gets the engine's own connection (sqlite3 or psycopg) and does what each needs.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from yoyo import get_backend, read_migrations

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def upgrade(uri: str) -> list[str]:
    """Apply the migrations a database lacks (`uri`: yoyo's, see `sqlite_uri`/`postgres_uri`);
    their ids, oldest first."""
    backend = get_backend(uri)
    try:
        migrations = read_migrations(str(MIGRATIONS))
        with backend.lock():
            todo = backend.to_apply(migrations)
            backend.apply_migrations(todo)
        return [m.id for m in todo]
    finally:
        backend.connection.close()


def pending(uri: str) -> list[str]:
    backend = get_backend(uri)
    try:
        return [m.id for m in backend.to_apply(read_migrations(str(MIGRATIONS)))]
    finally:
        backend.connection.close()


def sqlite_uri(path: Path | str) -> str:
    return "sqlite:///" + str(Path(path).resolve())


def postgres_uri(url: str, password: str | None) -> str:
    """The server's URL as yoyo takes it (psycopg 3), with the password if it is given apart."""
    rest = url.split("://", 1)[1]
    parts = urlsplit(url)
    if password is not None and parts.password is None and parts.username:
        rest = rest.replace(f"{parts.username}@", f"{parts.username}:{quote(password, safe='')}@", 1)
    return "postgresql+psycopg://" + rest


class _Steps:
    """Stands in for yoyo's collector while a migration module is read here: keeps each step's function."""

    def __init__(self) -> None:
        self.functions: list[Any] = []

    def add_step(self, apply: Any, *_: Any, **__: Any) -> Any:
        self.functions.append(apply)
        return apply


def apply_in_memory(conn: sqlite3.Connection) -> None:
    """Every migration on an in-memory database (which yoyo, opening its own connection, cannot reach)."""
    for path in sorted(MIGRATIONS.glob("m*.py")):
        spec = importlib.util.spec_from_file_location(f"arcroom_migration_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        steps = _Steps()
        module.__dict__["__yoyo_collector__"] = steps  # where yoyo's step() looks for its collector
        spec.loader.exec_module(module)
        for apply in steps.functions:
            apply(conn)
