"""Panic: one call brings the room up bright and the music down, whatever else is failing."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.auth import Control, Panic, Principal
from app.api.bodies import ClearPanic
from app.api.deps import room, runtime
from app.panic import PanicResult
from app.room import RoomController
from app.runtime import Runtime
from app.views import RoomView

router = APIRouter(prefix="/api/rooms")


@router.post("/{room}/panic", summary="Lights up bright, audio paused, session frozen: at once")
async def panic(principal: Principal = Panic, r: RoomController = Depends(room)) -> PanicResult:
    return await r.panic(by=f"http:{principal.name}")


@router.post("/{room}/panic/clear", summary="restore: fade the room back; hold: keep it bright and quiet")
async def clear_panic(
    body: ClearPanic, principal: Principal = Control, r: RoomController = Depends(room), rt: Runtime = Depends(runtime)
) -> RoomView:
    await r.clear_panic(body.mode, by=f"http:{principal.name}")
    return rt.view(r.id)
