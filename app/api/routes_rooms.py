"""Rooms, their session and its commands, and the live stream of a room's state."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response, status
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.api.auth import Control, Read
from app.api.bodies import Dose, End, Extend, Note, StartSession
from app.api.deps import room, runtime
from app.domain.session import SessionState
from app.room import RoomController
from app.runtime import Runtime
from app.views import RoomView

router = APIRouter(prefix="/api/rooms")


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
    response_class=EventSourceResponse,
    summary="Server-sent events: the room's state after every change",
)
async def stream(
    request: Request, r: RoomController = Depends(room), rt: Runtime = Depends(runtime)
) -> AsyncIterable[ServerSentEvent]:
    with rt.changes.subscribe() as changes:
        yield ServerSentEvent(event="state", raw_data=rt.view_json(r.id).decode(), retry=2000)
        while not await request.is_disconnected():
            batch = [await changes.get()]
            while not changes.empty():  # one action may make several notices: one state for all
                batch.append(changes.get_nowait())
            mine = [change for change in batch if change.room == r.id]
            for change in mine:
                if change.kind in ("phase", "cue"):
                    yield ServerSentEvent(event=change.kind, data=change.detail)
            if mine:
                yield ServerSentEvent(event="state", raw_data=rt.view_json(r.id).decode())
