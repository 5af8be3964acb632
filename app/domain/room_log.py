"""A room's own log: panic and manual lighting, whether or not a session is running.

A panic can happen in an empty room, and a manual light change can outlive nothing but the
phase it was made in, so neither can live only in a session's log. The room's state is a
fold over these events (`replay_room`), so a restart comes back exactly as the room was:
in panic, held after one, or with a manual override in force.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.light import LightState

PanicMode = Literal["panic", "held"]


class RoomEventType(StrEnum):
    PANIC = "panic"
    PANIC_CLEARED = "panic_cleared"
    LIGHTS_OVERRIDE = "lights_override"
    LIGHTS_OVERRIDE_CLEARED = "lights_override_cleared"


class RoomEvent(BaseModel):
    """One thing that happened in a room, at epoch time `at`."""

    model_config = ConfigDict(frozen=True)

    seq: int = Field(ge=0, description="Position in the room's log, from 0")
    at: float = Field(description="Epoch seconds")
    type: RoomEventType
    data: dict[str, Any] = Field(default_factory=dict)


class PanicStatus(BaseModel):
    """Whether the room is in panic, or held bright and quiet after one (cleared with mode "hold")."""

    active: bool = Field(description="True in panic and while held after one")
    mode: PanicMode | None = Field(
        default=None, description="panic, or held (cleared with hold: still bright and quiet)"
    )
    since: float | None = Field(default=None, description="When the panic began, epoch seconds")
    by: str | None = Field(default=None, description="Who pressed it: http:<token name>, mqtt:<sender>, ...")


class ManualOverride(BaseModel):
    """Manual light changes that hold until the next phase change, or until cleared."""

    model_config = ConfigDict(frozen=True)

    since: float = Field(description="The first change of this override, epoch seconds")
    detail: str = Field(description="The latest change, for people")
    scene: str | None = Field(
        default=None, description="The scene chosen by hand, if the latest whole-room change was one"
    )
    lights: dict[str, LightState] = Field(default_factory=dict, description="Per light: where it was set")
    fade_ends_at: float = Field(default=0.0, description="When the latest change's fade ends, epoch seconds")


@dataclass(frozen=True)
class RoomRecord:
    panic: PanicStatus
    override: ManualOverride | None


IDLE = RoomRecord(PanicStatus(active=False), None)


def replay_room(events: Iterable[RoomEvent]) -> RoomRecord:
    """The room's panic state and manual override, from its events alone."""
    record = IDLE
    for event in events:
        record = apply(record, event)
    return record


def apply(record: RoomRecord, event: RoomEvent) -> RoomRecord:
    """The record after one more event."""
    match event.type:
        case RoomEventType.PANIC:
            panic = record.panic
            if panic.mode != "panic":  # a second press changes nothing; a press while held is a new panic
                panic = PanicStatus(active=True, mode="panic", since=event.at, by=str(event.data.get("by", "")))
            return RoomRecord(panic, record.override)
        case RoomEventType.PANIC_CLEARED:
            if event.data.get("mode") == "hold":
                return RoomRecord(record.panic.model_copy(update={"mode": "held"}), record.override)
            return RoomRecord(PanicStatus(active=False), record.override)
        case RoomEventType.LIGHTS_OVERRIDE:
            lights = {name: LightState.model_validate(state) for name, state in event.data.get("lights", {}).items()}
            before = record.override
            override = ManualOverride(
                since=before.since if before else event.at,
                detail=str(event.data.get("detail", "")),
                scene=event.data.get("scene") if event.data.get("scene") else (before.scene if before else None),
                lights={**(before.lights if before else {}), **lights},
                fade_ends_at=event.at + float(event.data.get("transition_s", 0.0)),
            )
            return RoomRecord(record.panic, override)
        case RoomEventType.LIGHTS_OVERRIDE_CLEARED:
            return RoomRecord(record.panic, None)
