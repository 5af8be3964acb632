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
                    principal = Principal(token.name, token.role)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        if permission not in PERMISSIONS[principal.role]:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {principal.role!r} may not {permission} (token {principal.name!r})"
            )
        return replace(principal, acting_as=acting_as(request))

    return check


def stream_tickets(request: Request) -> StreamTickets[Principal]:
    tickets: StreamTickets[Principal] = request.app.state.stream_tickets
    return tickets


Read = Depends(require("read"))
Control = Depends(require("control"))
Panic = Depends(require("panic"))
