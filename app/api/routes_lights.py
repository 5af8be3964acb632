"""Manual lighting control. A manual change holds until the next phase change or until cleared."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from app.api.auth import Control, Read
from app.api.bodies import OneLight, RoomLights
from app.api.deps import runtime
from app.lighting import RoomLighting
from app.runtime import Runtime

router = APIRouter(prefix="/api")

# Fading back from a manual override to the phase's scene.
CLEAR_OVERRIDE_FADE_S = 10.0


@router.get("/scenes", dependencies=[Read])
async def scenes(rt: Runtime = Depends(runtime)) -> dict[str, Any]:
    return {name: scene.model_dump(exclude_none=True) for name, scene in rt.lighting.scenes.items()}


@router.put("/rooms/{room}/lights", dependencies=[Control])
async def set_room_lights(room: str, body: RoomLights, rt: Runtime = Depends(runtime)) -> RoomLighting:
    rt.engine.room(room)
    if body.scene is not None:
        rt.lighting.apply_scene(room, body.scene, transition_s=body.transition, source="manual")
    else:
        rt.lighting.adjust(room, None, brightness_pct=body.brightness, kelvin=body.kelvin,
                           transition_s=2.0 if body.transition is None else body.transition)
    return rt.lighting.view(room)


@router.put("/rooms/{room}/lights/{light}", dependencies=[Control])
async def set_light(room: str, light: str, body: OneLight, rt: Runtime = Depends(runtime)) -> RoomLighting:
    rt.engine.room(room)
    rt.lighting.adjust(room, light, on=body.on, brightness_pct=body.brightness, kelvin=body.kelvin,
                       rgb=body.rgb, transition_s=body.transition)
    return rt.lighting.view(room)


@router.delete("/rooms/{room}/lights/override", dependencies=[Control],
               summary="End a manual override: the room fades back to its phase's scene")
async def clear_override(room: str, rt: Runtime = Depends(runtime)) -> RoomLighting:
    rt.engine.room(room)
    rt.lighting.clear_override(room)
    state = rt.engine.room_state(room)
    if state is not None and not state.panic:
        rt.lighting.apply_scene(room, state.scene, transition_s=CLEAR_OVERRIDE_FADE_S, source="phase")
    return rt.lighting.view(room)
