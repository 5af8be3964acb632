"""Access to the running service from a request."""

from __future__ import annotations

from fastapi import Request

from app.engine import SessionEngine
from app.room import RoomController
from app.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def room(room: str, request: Request) -> RoomController:
    """The room named in the path (404 before anything else, and before a stream starts)."""
    return runtime(request).room(room)


def engine(request: Request) -> SessionEngine:
    """The sessions' records (a room's session is driven through its room)."""
    return runtime(request).engine
