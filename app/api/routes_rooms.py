"""Rooms, their session and its commands, and the live stream of a room's state."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response, status
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.api.auth import Control, Read
from app.api.bodies import Dose, End, Extend, Note, StartSession
from app.api.deps import engine, known_room, runtime
from app.domain.session import SessionState
from app.engine import SessionEngine
from app.runtime import RoomView, Runtime

router = APIRouter(prefix="/api/rooms")


@router.get("", dependencies=[Read])
async def rooms(rt: Runtime = Depends(runtime)) -> list[RoomView]:
    return [rt.room_view(room_id) for room_id in rt.engine.rooms]


@router.get("/{room}", dependencies=[Read], response_model=RoomView)
async def room(room: str = Depends(known_room), rt: Runtime = Depends(runtime)) -> Response:
    return Response(rt.room_view_json(room), media_type="application/json")


@router.get("/{room}/state", dependencies=[Read], response_model=RoomView)
async def room_state(room: str = Depends(known_room), rt: Runtime = Depends(runtime)) -> Response:
    return Response(rt.room_view_json(room), media_type="application/json")


@router.post("/{room}/session", status_code=status.HTTP_201_CREATED, dependencies=[Control])
async def start_session(room: str, body: StartSession, response: Response,
                        e: SessionEngine = Depends(engine), rt: Runtime = Depends(runtime)) -> SessionState:
    e.room(room)
    e.preset(body.preset)
    playlist = rt.music.check_playlist(body.preset, body.playlist, rt.libraries)
    state = e.start_session(room, body.preset, body.client_label, playlist)
    response.headers["Location"] = f"/api/sessions/{state.session_id}/events"
    return state


@router.post("/{room}/session/dose", dependencies=[Control])
async def dose(room: str, body: Annotated[Dose | None, Body()] = None,
               e: SessionEngine = Depends(engine)) -> SessionState:
    body = body or Dose()
    return e.dose(room, booster=body.booster, amount=body.amount)


@router.post("/{room}/session/advance", dependencies=[Control])
async def advance(room: str, e: SessionEngine = Depends(engine)) -> SessionState:
    return e.advance(room)


@router.post("/{room}/session/extend", dependencies=[Control])
async def extend(room: str, body: Extend, e: SessionEngine = Depends(engine)) -> SessionState:
    return e.extend(room, body.minutes)


@router.post("/{room}/session/hold", dependencies=[Control])
async def hold(room: str, e: SessionEngine = Depends(engine)) -> SessionState:
    return e.hold(room)


@router.post("/{room}/session/resume", dependencies=[Control])
async def resume(room: str, e: SessionEngine = Depends(engine)) -> SessionState:
    return e.resume(room)


@router.post("/{room}/session/note", dependencies=[Control])
async def note(room: str, body: Note, e: SessionEngine = Depends(engine)) -> SessionState:
    return e.note(room, body.text)


@router.post("/{room}/session/cues/{cue_id}/ack", dependencies=[Control])
async def acknowledge(room: str, cue_id: str, e: SessionEngine = Depends(engine)) -> SessionState:
    return e.acknowledge(room, cue_id)


@router.post("/{room}/session/end", dependencies=[Control])
async def end(room: str, body: Annotated[End | None, Body()] = None,
              e: SessionEngine = Depends(engine)) -> SessionState:
    return e.end(room, (body or End()).override_reason)


@router.get("/{room}/stream", dependencies=[Read], response_class=EventSourceResponse,
            summary="Server-sent events: the room's state after every change")
async def stream(request: Request, room: str = Depends(known_room),
                 rt: Runtime = Depends(runtime)) -> AsyncIterable[ServerSentEvent]:
    with rt.changes.subscribe() as changes:
        yield ServerSentEvent(event="state", raw_data=rt.room_view_json(room).decode(), retry=2000)
        while not await request.is_disconnected():
            batch = [await changes.get()]
            while not changes.empty():  # one action may make several notices: one state for all
                batch.append(changes.get_nowait())
            mine = [change for change in batch if change.room == room]
            for change in mine:
                if change.kind in ("phase", "cue"):
                    yield ServerSentEvent(event=change.kind, data=change.detail)
            if mine:
                yield ServerSentEvent(event="state", raw_data=rt.room_view_json(room).decode())
