"""Panic: one call brings the room up bright and the music down, whatever else is failing."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from app.api.auth import Control, Panic, Principal
from app.api.bodies import ClearPanic
from app.api.deps import room, runtime, standby_says
from app.api.openapi import ROOM_ERRORS
from app.domain.errors import Unavailable
from app.leadership import Leadership
from app.room import RoomController
from app.runtime import Runtime
from app.standby import FORWARDED_BY, forward_panic, panic_from_here, record_panic
from app.views import RoomView

router = APIRouter(prefix="/api/rooms", tags=["panic"], responses=ROOM_ERRORS)


@router.post("/{room}/panic", summary="Lights up bright, audio paused, session frozen: at once")
async def panic(room: str, request: Request, principal: Principal = Panic) -> Any:
    """Every light gets the panic scene (100 %, 4000 K) without waiting for the broker, the music pauses at once,
    the session freezes and the panic is recorded; each effect is guarded on its own. The answer lists each
    light as sent, confirmed or unconfirmed, the audio's confirmation and any effect that failed. Roles:
    therapist, device. Sent to a standby: the leader's answer if it gives one within 0.5 s, else the standby
    lights the room itself (app/standby.py).
    """
    rt: Runtime | None = request.app.state.runtime
    if rt is not None:
        return await rt.room(room).panic(by=principal.by)
    leadership: Leadership | None = request.app.state.leadership
    leader = leadership.leader if leadership is not None else None
    if FORWARDED_BY in request.headers:
        # Passed on by the other instance, which lights the room itself when no leader answers it
        # within FORWARD_WITHIN_S: lighting it here too would act twice, or late (a request that
        # reached a frozen leader is read as it thaws, seconds on, when this instance stands by).
        raise Unavailable(f"{standby_says(leadership)}; the instance that passed this panic on lights the room")
    if leader is not None and leadership is not None and leader.instance != leadership.instance:
        answer = await forward_panic(leader, room, request.headers.get("authorization"), leadership.instance)
        if answer is not None:
            return JSONResponse(answer[1], status_code=answer[0])
    settings = request.app.state.settings
    # Held while the standby acts: it does not start running the rooms until the panic is recorded.
    async with request.app.state.standby_acting:
        result = await panic_from_here(settings, request.app.state.catalog, room, principal.by)
        try:
            await asyncio.to_thread(record_panic, settings, room, principal.by)
        except Exception as exc:  # noqa: BLE001 - the lights are up; the retained report stands in
            result.errors.append(
                f"the panic could not be recorded ({type(exc).__name__}): the next leader takes it from the broker"
            )
    return result


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
