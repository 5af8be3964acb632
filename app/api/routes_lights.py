"""Manual lighting control. A manual change holds until the next phase change or until cleared."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from app.api.auth import Control, Principal, Read
from app.api.bodies import OneLight, RoomLights
from app.api.deps import room, runtime
from app.api.openapi import ROOM_ERRORS
from app.room import RoomController, RoomLighting
from app.runtime import Runtime

router = APIRouter(prefix="/api", tags=["lights"], responses=ROOM_ERRORS)


@router.get("/scenes", dependencies=[Read], summary="The lighting scenes")
async def scenes(rt: Runtime = Depends(runtime)) -> dict[str, Any]:
    """Each scene's setting per role (ceiling, lamp, accent) and its default fade, seconds."""
    return {name: scene.model_dump(exclude_none=True) for name, scene in rt.catalog.scenes.items()}


@router.put("/rooms/{room}/lights", summary="Set the whole room's lights by hand")
async def set_room_lights(
    body: RoomLights, principal: Principal = Control, r: RoomController = Depends(room)
) -> RoomLighting:
    """A scene, or a brightness (percent) and/or colour temperature (kelvin) for every light, over `transition`
    seconds. Holds until the next phase change or until cleared; 409 in panic.
    """
    by = principal.by
    if body.scene is not None:
        return r.set_scene(body.scene, body.transition, by)
    return r.adjust(
        None,
        brightness_pct=body.brightness,
        kelvin=body.kelvin,
        transition_s=2.0 if body.transition is None else body.transition,
        by=by,
    )


@router.put("/rooms/{room}/lights/{light}", summary="Set one light by hand")
async def set_light(
    light: str, body: OneLight, principal: Principal = Control, r: RoomController = Depends(room)
) -> RoomLighting:
    """On/off, brightness (percent), kelvin or rgb over `transition` seconds; holds like a scene by hand. 409 in
    panic.
    """
    return r.adjust(
        light,
        on=body.on,
        brightness_pct=body.brightness,
        kelvin=body.kelvin,
        rgb=body.rgb,
        transition_s=body.transition,
        by=principal.by,
    )


@router.delete(
    "/rooms/{room}/lights/override", summary="End a manual override: the room fades back to its phase's scene"
)
async def clear_override(principal: Principal = Control, r: RoomController = Depends(room)) -> RoomLighting:
    """The room fades back over 10 s to what it should show: the phase's scene, or idle between sessions."""
    return r.clear_override(by=principal.by)
