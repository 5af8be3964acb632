"""A room's state, flattened for Home Assistant's entities (pure: a RoomView in, plain values out).

The full state topic changes several times a second while music plays (its position); the
summary holds only what the entities show, so it is published when one of them changes and
Home Assistant records no change it did not see. Times are whole seconds for the same reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.views import RoomView

NONE = "none"  # what a text sensor shows for "nothing": Home Assistant reads "None" as unknown
TIMES = ("phase_started", "phase_ends", "dose_given", "next_cue_due")


def iso(epoch_s: float | None) -> str | None:
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(round(epoch_s), UTC).isoformat()


def room_summary(view: RoomView) -> dict[str, Any]:
    s = view.session
    running = s is not None and s.ended_at is None
    audio = view.audio
    playing = audio.now_playing
    now_playing = NONE
    if playing is not None:
        now_playing = f"{playing.title} – {playing.artist}" if playing.artist else playing.title
    times: dict[str, str | None] = {
        "phase_started": iso(s.phase_started_at) if running and s else None,
        "phase_ends": iso(s.next_phase_at) if running and s else None,
        "dose_given": iso(s.dose_at) if running and s else None,
        "next_cue_due": iso(s.next_cue.due_at) if running and s and s.next_cue else None,
    }
    return {
        "phase": s.phase if running and s else "idle",
        "status": s.status if running and s else "idle",
        "session_running": running,
        "session_held": bool(running and s and s.held),
        "panic_active": view.panic.active,
        "held_after_panic": view.panic.mode == "held",
        "panic_by": view.panic.by,
        "scene": view.lighting.scene or NONE,
        "scene_source": view.lighting.source,
        "next_cue": s.next_cue.label if running and s and s.next_cue else NONE,
        "checks_due": len(s.due_cues) if running and s else 0,
        "now_playing": now_playing,
        "audio": audio.state,
        "volume_pct": audio.volume_pct,
        "volume_ceiling_pct": audio.ceiling_pct,
        "lights": {
            light.name: {"online": light.online, "confirmed": light.confirmed} for light in view.lighting.lights
        },
        "times": times,
        # A Snapcast room's players: each connected to snapserver or not (empty for the box's own outputs).
        "players": {c.id: {"connected": c.connected} for c in audio.snapcast.clients} if audio.snapcast else {},
    }
