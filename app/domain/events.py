"""The append-only events a session is made of."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventType(StrEnum):
    STARTED = "started"
    DOSE_GIVEN = "dose_given"
    BOOSTER_GIVEN = "booster_given"
    PHASE_ADVANCED = "phase_advanced"
    PHASE_EXTENDED = "phase_extended"
    PHASE_ADVANCE_UNDONE = "phase_advance_undone"  # data: phase (the one left again), by
    HOLD = "hold"
    RESUME = "resume"
    NOTE = "note"
    PANIC = "panic"
    PANIC_CLEARED = "panic_cleared"
    CUE_ACKNOWLEDGED = "cue_acknowledged"
    OVERRIDE = "override"
    ENDED = "ended"
    # The clinical record: readings, the alerts they raise, who was present, the devices given.
    READING = "reading"
    ALERT = "alert"
    ALERT_ACKNOWLEDGED = "alert_acknowledged"
    FACILITATOR_SIGNED_IN = "facilitator_signed_in"
    FACILITATOR_SIGNED_OUT = "facilitator_signed_out"
    DEVICE_GIVEN = "device_given"
    READY_TO_LEAVE = "ready_to_leave"
    REMS_FILED = "rems_filed"  # may follow `ended`: the form is filed after the session
    # Music: recorded so that the plan (and a restart) knows where the music really is.
    AUDIO_PAUSED = "audio_paused"
    AUDIO_RESUMED = "audio_resumed"
    TRACK_SKIPPED = "track_skipped"
    TRACK_FAILED = "track_failed"
    # Music chosen and steered by the facilitator (recorded so a restart plays what was chosen).
    TALK = "talk"  # data: on (bool), by, and when on duck_db, timeout_s
    PLAYLIST_CHANGED = "playlist_changed"  # data: playlist, from, by
    MUSIC_GENTLER = "music_gentler"  # data: phase, by
    VOLUME_SET = "volume_set"  # data: volume_pct (as asked; the room's ceiling holds it), by
    # Data retention: the session's personal data was destroyed (its key); only this event is readable after.
    PURGED = "purged"  # data: reason, by


class Event(BaseModel):
    """One thing that happened in a session, at epoch time `at`."""

    model_config = ConfigDict(frozen=True)

    seq: int = Field(ge=0, description="Position in the session's log, from 0")
    at: float = Field(description="Epoch seconds")
    type: EventType
    data: dict[str, Any] = Field(default_factory=dict)
