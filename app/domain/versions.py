"""Stored shapes, and how older ones are read: session events, room events, the preset snapshot.

A session's log is kept for years and read by later releases, so what a stored event's data
looks like is versioned. Every stored event carries the version of its type's shape (`v`), written
as the current one. On read, an older version is brought up to date one step at a time by a chain
of small functions, each from version n to n + 1 of one type, so the fold and the report only ever
see the current shape. A version newer than this release knows is refused by name: it was written
by a newer Arcroom, and guessing at it could misread a clinical record.

To change an event's shape: raise its version in the table below, add the step from the old
version (a function of the old data that returns the new), and add a test that reads a stored
event of the old version (tests/domain/test_versions.py). Never edit an old step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.domain.events import EventType
from app.domain.presets import Preset

log = logging.getLogger(__name__)

Upcast = Callable[[dict[str, Any]], dict[str, Any]]


class StoredTooNew(ValueError):
    """A stored shape newer than this release reads."""


@dataclass(frozen=True)
class Chain:
    """The versions of one kind of stored record (by type) and the steps between them."""

    what: str
    current: Mapping[str, int]  # types not listed are at version 1
    steps: Mapping[tuple[str, int], Upcast]  # (type, n) -> data at n + 1

    def version(self, type_: str) -> int:
        return self.current.get(type_, 1)

    def upcast(self, type_: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
        """`data`, stored at `version`, in the current shape of its type."""
        latest = self.version(type_)
        if version > latest:
            raise StoredTooNew(
                f"a stored {self.what} {type_!r} is at version {version}, and this release reads up to "
                f"version {latest}: a newer Arcroom wrote it. Run that release (or newer) on this database"
            )
        while version < latest:
            data = self.steps[(type_, version)](dict(data))
            version += 1
        return data


def _alert_names_its_reading(data: dict[str, Any]) -> dict[str, Any]:
    # v2: an alert raised by a reading names it (`reading_seq`), so the tablet shows one reading's
    # alerts as one. A v1 alert did not say which reading raised it; it stays unnamed.
    data.setdefault("reading_seq", None)
    return data


SESSION_EVENTS = Chain(
    what="session event",
    current={EventType.ALERT.value: 2},
    steps={(EventType.ALERT.value, 1): _alert_names_its_reading},
)

# The room's own log (app/domain/room_log.py): every type is still at its first shape.
ROOM_EVENTS = Chain(what="room event", current={}, steps={})

# The preset copied into each session when it starts (the session follows that copy, not the file).
PRESET_SNAPSHOT = Chain(what="preset snapshot", current={"preset": 1}, steps={})


def load_preset_snapshot(data: dict[str, Any], version: int, *, session: str) -> Preset:
    """A session's stored preset, read leniently: brought up to the current shape, and any field the
    preset model no longer has dropped (with a warning), so a field removed from preset files does
    not make every stored session unreadable."""
    data = PRESET_SNAPSHOT.upcast("preset", version, data)
    dropped: list[str] = []
    while True:
        try:
            preset = Preset.model_validate(data)
        except ValidationError as e:
            extra = [err["loc"] for err in e.errors() if err["type"] == "extra_forbidden"]
            if not extra:
                raise ValueError(f"the preset stored with session {session} cannot be read: {e}") from e
            for loc in extra:
                _drop(data, loc)
                dropped.append(".".join(str(part) for part in loc))
            continue
        if dropped:
            log.warning(
                "session %s: its stored preset has field(s) this release no longer knows, left out: %s",
                session,
                ", ".join(dropped),
            )
        return preset


def _drop(data: Any, loc: tuple[int | str, ...]) -> None:
    for part in loc[:-1]:
        data = data[part]
    del data[loc[-1]]
