"""Panic: one call brings the room up bright and the music down, whatever else is failing."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.auth import Control, Panic, Principal
from app.api.bodies import ClearPanic
from app.api.deps import room, runtime
from app.api.openapi import ROOM_ERRORS
from app.panic import PanicResult
from app.room import RoomController
from app.runtime import Runtime
from app.views import RoomView

router = APIRouter(prefix="/api/rooms", tags=["panic"], responses=ROOM_ERRORS)


@router.post("/{room}/panic", summary="Lights up bright, audio paused, session frozen: at once")
async def panic(principal: Principal = Panic, r: RoomController = Depends(room)) -> PanicResult:
    """Every light gets the panic scene (100 %, 4000 K) without waiting for the broker, the music pauses at once,
    the session freezes and the panic is recorded; each effect is guarded on its own. The answer lists each
    light as sent, confirmed or unconfirmed, the audio's confirmation and any effect that failed. Roles:
    therapist, device.
    """
    return await r.panic(by=principal.by)


@router.post("/{room}/panic/clear", summary="restore: fade the room back; hold: keep it bright and quiet")
async def clear_panic(
    body: ClearPanic, principal: Principal = Control, r: RoomController = Depends(room), rt: Runtime = Depends(runtime)
) -> RoomView:
    """`restore`: the lights fade over 10 s to what the room should show now (the current phase's scene, a manual
    override in force, or idle) and the music resumes with a fade-in. `hold`: the room stays bright and quiet
    and the session on hold until cleared again with `restore`.
    """
    await r.clear_panic(body.mode, by=principal.by)
    return rt.view(r.id)
