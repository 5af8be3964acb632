"""Rooms, their session and its commands, and the live stream of a room's state."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response, status
from fastapi.responses import StreamingResponse

from app.api.auth import Control, Read
from app.api.bodies import Dose, End, Extend, Note, StartSession
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


@router.post("/{room}/session", status_code=status.HTTP_201_CREATED, dependencies=[Control])
async def start_session(body: StartSession, response: Response, r: RoomController = Depends(room)) -> SessionState:
    state = r.start_session(body.preset, body.client_label, body.playlist)
    response.headers["Location"] = f"/api/sessions/{state.session_id}/events"
    return state


@router.post("/{room}/session/dose", dependencies=[Control])
async def dose(body: Annotated[Dose | None, Body()] = None, r: RoomController = Depends(room)) -> SessionState:
    body = body or Dose()
    return r.dose(booster=body.booster, amount=body.amount)


@router.post("/{room}/session/advance", dependencies=[Control])
async def advance(r: RoomController = Depends(room)) -> SessionState:
    return r.advance()


@router.post("/{room}/session/extend", dependencies=[Control])
async def extend(body: Extend, r: RoomController = Depends(room)) -> SessionState:
    return r.extend(body.minutes)


@router.post("/{room}/session/hold", dependencies=[Control])
async def hold(r: RoomController = Depends(room)) -> SessionState:
    return r.hold()


@router.post("/{room}/session/resume", dependencies=[Control])
async def resume(r: RoomController = Depends(room)) -> SessionState:
    return r.resume()


@router.post("/{room}/session/note", dependencies=[Control])
async def note(body: Note, r: RoomController = Depends(room)) -> SessionState:
    return r.note(body.text)


@router.post("/{room}/session/cues/{cue_id}/ack", dependencies=[Control])
async def acknowledge(cue_id: str, r: RoomController = Depends(room)) -> SessionState:
    return r.acknowledge(cue_id)


@router.post("/{room}/session/end", dependencies=[Control])
async def end(body: Annotated[End | None, Body()] = None, r: RoomController = Depends(room)) -> SessionState:
    return r.end((body or End()).override_reason)


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
                if change.kind in ("phase", "cue"):
                    yield sse_frame(change.kind, json.dumps(change.detail))
            if mine:
                yield rt.views.sse_state(room_id, rt.link.connected)
