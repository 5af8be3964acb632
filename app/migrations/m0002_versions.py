"""Schema versions on stored shapes: each event, room event and preset snapshot says which version
of its shape it was written in (app/domain/versions.py upcasts older ones on read). What was
stored before versions existed is version 1. A database that has the columns already (made by the
service before migrations were tracked) is left as it is.
"""

from typing import Any

from yoyo import step

ADDED = (
    ("sessions", "preset_v"),
    ("events", "v"),
    ("room_events", "v"),
)


def apply(conn: Any) -> None:
    sqlite = type(conn).__module__.startswith("sqlite3")
    for table, column in ADDED:
        if sqlite:
            if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER NOT NULL DEFAULT 1")
        else:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} INTEGER NOT NULL DEFAULT 1")


steps = [step(apply)]
