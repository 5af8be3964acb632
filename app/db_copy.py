"""`arcroom db copy SOURCE TARGET`: the whole record from one store to another (a SQLite file to a
PostgreSQL server, say), row for row, then read back and compared event for event.

Rows are copied as stored: personal data stays sealed with its session's own key (copied with
it), and a purged session stays purged. The target must be empty, so a copy never mixes records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.store import TABLES, EventStore, insert_rows, table_rows


class CopyRefused(Exception):
    """The copy was not made (the target holds a record already), or did not read back the same."""


@dataclass(frozen=True)
class Copied:
    sessions: int
    events: int
    keys: int
    room_events: int


def copy_record(source: EventStore, target: EventStore) -> Copied:
    held = {table: len(table_rows(target, table)) for table, _ in TABLES}
    if any(held.values()):
        found = ", ".join(f"{n} {table}" for table, n in held.items() if n)
        raise CopyRefused(f"the target already holds a record ({found}): give an empty database")
    rows = {table: table_rows(source, table) for table, _ in TABLES}
    insert_rows(target, rows)
    _verify(source, target, rows)
    return Copied(
        sessions=len(rows["sessions"]),
        events=len(rows["events"]),
        keys=len(rows["session_keys"]),
        room_events=len(rows["room_events"]),
    )


def _verify(source: EventStore, target: EventStore, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """Read back through the store's own rules (unsealed, upcast): every session, event and room
    event the same on both sides."""
    for session_id, *_ in rows["sessions"]:
        if source.session(session_id) != target.session(session_id):
            raise CopyRefused(f"session {session_id} reads back differently from the target")
        if source.events(session_id) != target.events(session_id):
            raise CopyRefused(f"the events of session {session_id} read back differently from the target")
    for room in sorted({row[0] for row in rows["room_events"]}):
        if source.room_events(room) != target.room_events(room):
            raise CopyRefused(f"room {room}'s own log reads back differently from the target")
