"""What a room's lights should show now: the one answer, used on every path that changes them.

Phase changes, clearing a panic with restore, clearing a manual override, starting and ending
a session, and a restart all ask this function, so none of them can disagree:
1. in panic, or held after one: the `panic` scene;
2. otherwise a manual override in force (made since the current phase began) over
3. the current phase's scene, or the `idle` scene when no session is running.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

from app.domain.light import LightState
from app.domain.room_log import ManualOverride, RoomRecord
from app.domain.rooms import Room
from app.domain.scenes import Scene
from app.domain.session import SessionState

SceneSource = Literal["panic", "held", "manual", "phase", "idle"]
PANIC_SCENE = "panic"
IDLE_SCENE = "idle"


class Intended(BaseModel):
    model_config = ConfigDict(frozen=True)

    scene: str
    source: SceneSource
    lights: dict[str, LightState]  # per light name
    override: ManualOverride | None = None

    def fade_s(self, scenes: Mapping[str, Scene]) -> float:
        """The scene's own fade: how slowly the room should get there when its phase begins."""
        return scenes[self.scene].fade_s


def override_in_force(record: RoomRecord, session: SessionState | None) -> ManualOverride | None:
    """A manual override lasts until the next phase change: one made before the current phase began
    (while the service was down, say) no longer holds."""
    override = record.override
    if override is None or (session is not None and override.since < session.phase_started_at):
        return None
    return override


def intended_state(
    room: Room, scenes: Mapping[str, Scene], record: RoomRecord, session: SessionState | None
) -> Intended:
    if record.panic.active:
        panic = scenes[PANIC_SCENE]
        source: SceneSource = "held" if record.panic.mode == "held" else "panic"
        return Intended(
            scene=PANIC_SCENE, source=source, lights={light.name: panic.for_role(light.role) for light in room.lights}
        )
    name = session.scene if session is not None else IDLE_SCENE
    scene = scenes[name]
    lights = {light.name: scene.for_role(light.role) for light in room.lights}
    override = override_in_force(record, session)
    if override is None:
        return Intended(scene=name, source="phase" if session is not None else "idle", lights=lights)
    lights.update({n: s for n, s in override.lights.items() if n in lights})
    return Intended(scene=override.scene or name, source="manual", lights=lights, override=override)
