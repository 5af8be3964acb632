"""Manual lighting control. A manual change holds until the next phase change or until cleared."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from app.api.auth import Control, Principal, Read
from app.api.bodies import OneLight, RoomLights
from app.api.deps import room, runtime
from app.room import RoomController, RoomLighting
from app.runtime import Runtime

router = APIRouter(prefix="/api")


@router.get("/scenes", dependencies=[Read])
async def scenes(rt: Runtime = Depends(runtime)) -> dict[str, Any]:
    return {name: scene.model_dump(exclude_none=True) for name, scene in rt.catalog.scenes.items()}


@router.put("/rooms/{room}/lights")
async def set_room_lights(
    body: RoomLights, principal: Principal = Control, r: RoomController = Depends(room)
) -> RoomLighting:
    by = f"http:{principal.name}"
    if body.scene is not None:
        return r.set_scene(body.scene, body.transition, by)
    return r.adjust(
        None,
        brightness_pct=body.brightness,
        kelvin=body.kelvin,
        transition_s=2.0 if body.transition is None else body.transition,
        by=by,
    )


@router.put("/rooms/{room}/lights/{light}")
async def set_light(
    light: str, body: OneLight, principal: Principal = Control, r: RoomController = Depends(room)
) -> RoomLighting:
    return r.adjust(
        light,
        on=body.on,
        brightness_pct=body.brightness,
        kelvin=body.kelvin,
        rgb=body.rgb,
        transition_s=body.transition,
        by=f"http:{principal.name}",
    )


@router.delete(
    "/rooms/{room}/lights/override", summary="End a manual override: the room fades back to its phase's scene"
)
async def clear_override(principal: Principal = Control, r: RoomController = Depends(room)) -> RoomLighting:
    return r.clear_override(by=f"http:{principal.name}")
