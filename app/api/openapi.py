"""What the OpenAPI document says besides the routes: tags, and the errors every room route may answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    detail: str = Field(description="What is wrong and, where it helps, what to do instead", examples=["no room 'x'"])


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorDetail, "description": "No such room, preset, session, cue, light, scene or playlist"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorDetail,
        "description": "The room's or the session's state does not allow it now (in panic, no session running, "
        "already done, before it is due...); the message says why",
    }
}
ROOM_ERRORS = {**NOT_FOUND, **CONFLICT}

TAGS = [
    {"name": "sessions", "description": "A room's session: start, dose, the arc, checks and readings, the end"},
    {"name": "panic", "description": "Lights up bright, music paused, session frozen: at once"},
    {"name": "lights", "description": "Manual lighting; a change holds until the next phase or until cleared"},
    {"name": "music", "description": "The room's music: pause, volume, Talk, another playlist, the plan"},
    {"name": "rooms", "description": "A room's state, and its live event stream"},
    {"name": "records", "description": "Presets, and the records of sessions: events, reports, REMS forms"},
    {"name": "service", "description": "Health, metrics, stream tickets"},
]
