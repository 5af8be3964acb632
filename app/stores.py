"""The store ARCROOM_DATABASE names: a SQLite file, or a PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

from app.store import EventStore, SqliteStore


def open_store(database: Path | str, password: str | None = None) -> EventStore:
    """The store ARCROOM_DATABASE names: a `postgresql://` URL (`password`: its user's, when not in
    the URL), or a SQLite file's path."""
    if is_postgres_url(str(database)):
        from app.store_postgres import PostgresStore  # the driver is loaded only when it is used

        return PostgresStore(str(database), password)
    return SqliteStore(database)


def is_postgres_url(database: str) -> bool:
    return database.startswith(("postgresql://", "postgres://"))
