"""Bearer tokens with roles: therapist (everything), observer (read only), device (panic only)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import unquote

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.tickets import StreamTickets
from app.runtime import Runtime
from app.settings import Settings

Permission = Literal["read", "control", "panic"]
PERMISSIONS: dict[str, frozenset[str]] = {
    "therapist": frozenset({"read", "control", "panic"}),
    "observer": frozenset({"read"}),
    "device": frozenset({"panic"}),
}

_bearer = HTTPBearer(auto_error=False, description="A token from ARCROOM_TOKENS")


# The person at the device, as the tablet says (its "acting as" facilitator), percent-encoded.
ACTING_AS_HEADER = "X-Arcroom-Acting-As"
NAME_MAX = 60  # as a facilitator's name


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    acting_as: str | None = None
    rooms: frozenset[str] | None = None  # the rooms its token is for; None: every room

    def may_use(self, room: str) -> bool:
        return self.rooms is None or room in self.rooms

    @property
    def by(self) -> str:
        """Who did it, for the record: the person via the device ("A. Rivera via http:tablet-room1")."""
        device = f"http:{self.name}"
        return f"{self.acting_as} via {device}" if self.acting_as else device


def acting_as(request: Request) -> str | None:
    """The person named by the request, or None. Never a refusal: a panic must not fail on a bad header,
    so one that is not a usable name is left out of the record rather than answered with a 4xx."""
    raw = request.headers.get(ACTING_AS_HEADER)
    if not raw:
        return None
    name = " ".join(unquote(raw).split())
    return name if name and len(name) <= NAME_MAX and name.isprintable() else None


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    async def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
        settings: Settings = request.app.state.settings
        if not settings.tokens:
            # Only possible on loopback: Settings refuses any other address without tokens.
            return Principal("open", "therapist", acting_as(request))
        presented = credentials.credentials if credentials else None
        principal = None
        if presented is None and request.url.path.endswith("/stream"):
            # EventSource cannot send headers: event streams (only) take a ticket from POST
            # /api/stream-tickets (the dashboard's way), or ?access_token= for scripts. Neither
            # reaches the access log (app/logs.py redacts both).
            ticket = request.query_params.get("ticket")
            if ticket:
                principal = stream_tickets(request).holder(ticket)
            presented = request.query_params.get("access_token")
        if presented:
            for token in settings.tokens:
                expected = token.token.get_secret_value().encode()
                if secrets.compare_digest(presented.encode("utf-8", "replace"), expected):
                    rooms = frozenset(token.rooms) if token.rooms is not None else None
                    principal = Principal(token.name, token.role, rooms=rooms)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        if permission not in PERMISSIONS[principal.role]:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {principal.role!r} may not {permission} (token {principal.name!r})"
            )
        # Panic is allowed in every room, whatever rooms a token is for: a clinic's safety rule.
        if permission != "panic" and principal.rooms is not None:
            room = request.path_params.get("room") or _room_of_session(request)
            if room is not None and not principal.may_use(room):
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN,
                    f"token {principal.name!r} is for room(s) {', '.join(sorted(principal.rooms))}, not {room!r}",
                )
        return replace(principal, acting_as=acting_as(request))

    return check


def _room_of_session(request: Request) -> str | None:
    session_id = request.path_params.get("session_id")
    if session_id is None:
        return None
    runtime: Runtime | None = request.app.state.runtime
    return runtime.engine.room_of(session_id) if runtime is not None else None


def stream_tickets(request: Request) -> StreamTickets[Principal]:
    tickets: StreamTickets[Principal] = request.app.state.stream_tickets
    return tickets


Read = Depends(require("read"))
Control = Depends(require("control"))
Panic = Depends(require("panic"))
