"""Access to the running service from a request."""

from __future__ import annotations

from fastapi import Request

from app.engine import SessionEngine
from app.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def engine(request: Request) -> SessionEngine:
    return runtime(request).engine


def known_room(room: str, request: Request) -> str:
    """The room path parameter, checked before a streaming response starts (404 otherwise)."""
    engine(request).room(room)
    return room
