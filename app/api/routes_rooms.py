"""Rooms, their session and its commands, and the live stream of a room's state."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response, status
from fastapi.responses import StreamingResponse

from app.api.auth import Control, Principal, Read
from app.api.bodies import Acknowledge, AlertAck, Dose, End, Extend, Facilitator, Note, Reading, StartSession
from app.api.deps import room, runtime
from app.domain.session import SessionState
from app.room import RoomController
from app.runtime import Runtime
from app.views import RoomView, sse_frame

router = APIRouter(prefix="/api/rooms")
# A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_S = 15.0


@router.get("", dependencies=[Read])
async def rooms(rt: Runtime = Depends(runtime)) -> list[RoomView]:
    return [rt.view(room_id) for room_id in rt.rooms]


@router.get("/{room}", dependencies=[Read], response_model=RoomView)
async def room_view(r: RoomController = Depends(room), rt: Runtime = Depends(runtime)) -> Response:
    return Response(rt.view_json(r.id), media_type="application/json")


@router.get("/{room}/state", dependencies=[Read], response_model=RoomView)
async def room_state(r: RoomController = Depends(room), rt: Runtime = Depends(runtime)) -> Response:
    return Response(rt.view_json(r.id), media_type="application/json")


def _by(principal: Principal) -> str:
    """The actor recorded with every command: the token's name."""
    return f"http:{principal.name}"


@router.post("/{room}/session", status_code=status.HTTP_201_CREATED)
async def start_session(
    body: StartSession, response: Response, principal: Principal = Control, r: RoomController = Depends(room)
) -> SessionState:
    state = r.start_session(body.preset, body.client_label, body.playlist, by=_by(principal))
    response.headers["Location"] = f"/api/sessions/{state.session_id}/events"
    return state


@router.post("/{room}/session/dose")
async def dose(
    body: Annotated[Dose | None, Body()] = None, principal: Principal = Control, r: RoomController = Depends(room)
) -> SessionState:
    body = body or Dose()
    return r.dose(
        booster=body.booster,
        amount=body.amount,
        unit=body.unit,
        lot=body.lot,
        override_reason=body.override_reason,
        by=_by(principal),
    )


@router.post("/{room}/session/advance")
async def advance(principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    return r.advance(by=_by(principal))


@router.post("/{room}/session/extend")
async def extend(body: Extend, principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    return r.extend(body.minutes, by=_by(principal))


@router.post("/{room}/session/hold")
async def hold(principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    return r.hold(by=_by(principal))


@router.post("/{room}/session/resume")
async def resume(principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    return r.resume(by=_by(principal))


@router.post("/{room}/session/note")
async def note(body: Note, principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    return r.note(body.text, by=_by(principal))


@router.post("/{room}/session/cues/{cue_id}/ack", summary="Acknowledge a due cue, with the readings it asks for")
async def acknowledge(
    cue_id: str,
    body: Annotated[Acknowledge | None, Body()] = None,
    principal: Principal = Control,
    r: RoomController = Depends(room),
) -> SessionState:
    body = body or Acknowledge()
    return r.acknowledge(cue_id, body.readings, body.not_taken_reason, by=_by(principal))


@router.post("/{room}/session/readings", summary="Record a reading at any time (unscheduled)")
async def reading(body: Reading, principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    return r.record_reading(body.readings, body.kind, by=_by(principal))


@router.post("/{room}/session/alerts/{alert_id}/ack", summary="A facilitator has seen the alert")
async def acknowledge_alert(
    alert_id: str,
    body: Annotated[AlertAck | None, Body()] = None,
    principal: Principal = Control,
    r: RoomController = Depends(room),
) -> SessionState:
    return r.acknowledge_alert(alert_id, (body or AlertAck()).facilitator, by=_by(principal))


@router.post("/{room}/session/facilitators", summary="A facilitator signs in to the session")
async def sign_in(body: Facilitator, principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    return r.sign_in(body.name, by=_by(principal))


@router.delete("/{room}/session/facilitators/{name}", summary="A facilitator signs out of the session")
async def sign_out(name: str, principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    return r.sign_out(name, by=_by(principal))


@router.post("/{room}/session/ready-to-leave", summary="The client is judged ready to leave (REMS asks when)")
async def ready_to_leave(principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    return r.ready_to_leave(by=_by(principal))


@router.post("/{room}/session/end")
async def end(
    body: Annotated[End | None, Body()] = None, principal: Principal = Control, r: RoomController = Depends(room)
) -> SessionState:
    return r.end((body or End()).override_reason, by=_by(principal))


@router.get(
    "/{room}/stream",
    dependencies=[Read],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`state`, `phase` and `cue` events"}},
    summary="Server-sent events: the room's state after every change",
)
async def stream(r: RoomController = Depends(room), rt: Runtime = Depends(runtime)) -> StreamingResponse:
    # Starlette cancels the generator when the client goes away.
    return StreamingResponse(
        _events(rt, r.id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(rt: Runtime, room_id: str) -> AsyncIterator[bytes]:
    """The room's state after every change, as frames made once per change and shared by every
    client (a hundred tablets must not mean a hundred copies of each state)."""
    with rt.changes.subscribe() as changes:
        # The first event also tells the browser how soon to reconnect (a blank line ends an event).
        yield rt.views.sse_state(room_id, rt.link.connected)[:-1] + b"retry: 2000\n\n"
        while True:
            try:
                async with asyncio.timeout(KEEPALIVE_S):
                    batch = [await changes.get()]
            except TimeoutError:
                yield b": keep-alive\n\n"  # proxies close streams that stay silent
                continue
            while not changes.empty():  # one action may make several notices: one state for all
                batch.append(changes.get_nowait())
            mine = [change for change in batch if change.room == room_id]
            for change in mine:
                if change.kind in ("phase", "cue", "alert"):
                    yield sse_frame(change.kind, json.dumps(change.detail))
            if mine:
                yield rt.views.sse_state(room_id, rt.link.connected)
