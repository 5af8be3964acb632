"""Panic: one call brings the room up bright and the music down, whatever else is failing."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.auth import Control, Panic, Principal
from app.api.bodies import ClearPanic
from app.api.deps import runtime
from app.panic import PanicResult
from app.runtime import RoomView, Runtime

router = APIRouter(prefix="/api/rooms")


@router.post("/{room}/panic", summary="Lights up bright, audio paused, session frozen: at once")
async def panic(room: str, principal: Principal = Panic, rt: Runtime = Depends(runtime)) -> PanicResult:
    return await rt.panic.panic(room, by=f"http:{principal.name}")


@router.post("/{room}/panic/clear", summary="restore: fade the room back; hold: keep it bright and quiet")
async def clear_panic(room: str, body: ClearPanic, principal: Principal = Control,
                      rt: Runtime = Depends(runtime)) -> RoomView:
    await rt.panic.clear(room, body.mode, by=f"http:{principal.name}")
    return rt.room_view(room)
