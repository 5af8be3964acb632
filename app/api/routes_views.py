"""Rooms as the dashboard and smart-home systems see them: their state, and its live stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from app.api.auth import Principal, Read
from app.api.deps import standby_says
from app.api.openapi import NOT_FOUND
from app.domain.errors import NotFound, Unavailable
from app.leadership import Leadership
from app.runtime import Runtime
from app.standby_views import BrokerViews
from app.views import RoomView, sse_frame

router = APIRouter(prefix="/api/rooms", tags=["rooms"], responses=NOT_FOUND)
# A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_S = 15.0


@router.get("", response_model=list[RoomView], summary="Every room's state")
async def rooms(request: Request, principal: Principal = Read) -> Response:
    """The same document as `GET /api/rooms/{room}/state`, for every room (that the token is for)."""
    rt: Runtime | None = request.app.state.runtime
    if rt is not None:
        views = [rt.view_json(room_id) for room_id in rt.rooms if principal.may_use(room_id)]
        return Response(b"[" + b",".join(views) + b"]", media_type="application/json")
    standby, leader, says = _standby(request)
    ids = [room_id for room_id in request.app.state.catalog.rooms if principal.may_use(room_id)]
    return JSONResponse([await standby.view(room_id, leader, says) for room_id in ids])


@router.get("/{room}", dependencies=[Read], response_model=RoomView, summary="A room's state")
async def room_view(room: str, request: Request) -> Response:
    """The same as `/state`: session, panic, lighting, audio, broker link."""
    return await _view(request, room)


@router.get("/{room}/state", dependencies=[Read], response_model=RoomView, summary="A room's state")
async def room_state(room: str, request: Request) -> Response:
    """Session (phase, times, cues, readings), panic status, lighting (scene, source, override, each light's
    commanded and reported state), audio, and whether the broker is connected. Times are epoch seconds.
    On a standby whose leader does not answer it: the leader's last view from the broker, every command
    refused but a panic.
    """
    return await _view(request, room)


async def _view(request: Request, room_id: str) -> Response:
    rt: Runtime | None = request.app.state.runtime
    if rt is not None:
        return Response(rt.view_json(rt.room(room_id).id), media_type="application/json")
    standby, leader, says = _standby(request, room_id)
    return JSONResponse(await standby.view(room_id, leader, says))


def _standby(request: Request, room_id: str | None = None) -> tuple[BrokerViews, str | None, str]:
    """A standby answering for a leader it cannot reach: the leader's views from the broker, who
    leads, and what to answer while the broker has no view (404 first for a room that is not there)."""
    if room_id is not None and room_id not in request.app.state.catalog.rooms:
        raise NotFound(f"no room {room_id!r}")
    leadership: Leadership | None = request.app.state.leadership
    standby: BrokerViews | None = getattr(request.app.state, "broker_views", None)
    says = standby_says(leadership)
    if standby is None:
        raise Unavailable(says)
    leader = leadership.leader if leadership is not None else None
    return standby, (leader.instance if leader is not None else None), says


@router.get(
    "/{room}/stream",
    dependencies=[Read],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`state`, `phase` and `cue` events"}},
    summary="Server-sent events: the room's state after every change",
)
async def stream(room: str, request: Request) -> StreamingResponse:
    """Server-sent events: `state` (the same document as `/state`) after every change, `phase` and `cue` when they
    happen, `alert` when a reading or staffing raises one; a comment line every 15 s keeps proxies open.
    Browsers authenticate with a stream ticket (`POST /api/stream-tickets`). On a standby whose leader does not
    answer it: `state` each time the leader publishes the room's view on the broker.
    """
    rt: Runtime | None = request.app.state.runtime
    if rt is not None:
        events = _events(rt, rt.room(room).id)
    else:
        standby, leader, says = _standby(request, room)
        await standby.view(room, leader, says)  # 503 now, not a stream that ends at once
        events = standby.events(room, leader, says)
    # Starlette cancels the generator when the client goes away.
    return StreamingResponse(
        events,
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
