"""Rooms as the dashboard and smart-home systems see them: their state, and its live stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Response
from fastapi.responses import StreamingResponse

from app.api.auth import Principal, Read
from app.api.deps import room, runtime
from app.api.openapi import NOT_FOUND
from app.room import RoomController
from app.runtime import Runtime
from app.views import RoomView, sse_frame

router = APIRouter(prefix="/api/rooms", tags=["rooms"], responses=NOT_FOUND)
# A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_S = 15.0


@router.get("", summary="Every room's state")
async def rooms(principal: Principal = Read, rt: Runtime = Depends(runtime)) -> list[RoomView]:
    """The same document as `GET /api/rooms/{room}/state`, for every room (that the token is for)."""
    return [rt.view(room_id) for room_id in rt.rooms if principal.may_use(room_id)]


@router.get("/{room}", dependencies=[Read], response_model=RoomView, summary="A room's state")
async def room_view(r: RoomController = Depends(room), rt: Runtime = Depends(runtime)) -> Response:
    """The same as `/state`: session, panic, lighting, audio, broker link."""
    return Response(rt.view_json(r.id), media_type="application/json")


@router.get("/{room}/state", dependencies=[Read], response_model=RoomView, summary="A room's state")
async def room_state(r: RoomController = Depends(room), rt: Runtime = Depends(runtime)) -> Response:
    """Session (phase, times, cues, readings), panic status, lighting (scene, source, override, each light's
    commanded and reported state), audio, and whether the broker is connected. Times are epoch seconds.
    """
    return Response(rt.view_json(r.id), media_type="application/json")


@router.get(
    "/{room}/stream",
    dependencies=[Read],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`state`, `phase` and `cue` events"}},
    summary="Server-sent events: the room's state after every change",
)
async def stream(r: RoomController = Depends(room), rt: Runtime = Depends(runtime)) -> StreamingResponse:
    """Server-sent events: `state` (the same document as `/state`) after every change, `phase` and `cue` when they
    happen, `alert` when a reading or staffing raises one; a comment line every 15 s keeps proxies open.
    Browsers authenticate with a stream ticket (`POST /api/stream-tickets`).
    """
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
