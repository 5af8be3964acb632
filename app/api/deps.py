"""Access to the running service from a request.

Each is `async def` although none awaits: FastAPI runs a plain `def` dependency in its thread pool,
and the hop there and back waits behind everything else the loop has ready (a panic under load)."""

from __future__ import annotations

from fastapi import Request

from app.domain.errors import Unavailable
from app.engine import SessionEngine
from app.leadership import Leadership
from app.room import RoomController
from app.runtime import Runtime


def _runtime(request: Request) -> Runtime:
    rt: Runtime | None = request.app.state.runtime
    if rt is None:
        raise Unavailable(standby_says(request.app.state.leadership))
    return rt


def standby_says(leadership: Leadership | None) -> str:
    """What a standby answers: who leads, and where."""
    leader = leadership.leader if leadership is not None else None
    if leader is None:
        return "this instance is standing by and no instance leads yet; ask again in a few seconds"
    return f"this instance is standing by: {leader.instance} leads (term {leader.term}), at {leader.address}"


async def runtime(request: Request) -> Runtime:
    return _runtime(request)


async def room(room: str, request: Request) -> RoomController:
    """The room named in the path (404 before anything else, and before a stream starts)."""
    return _runtime(request).room(room)


async def engine(request: Request) -> SessionEngine:
    """The sessions' records (a room's session is driven through its room)."""
    return _runtime(request).engine
