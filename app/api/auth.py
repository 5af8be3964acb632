"""Bearer tokens with roles: therapist (everything), observer (read only), device (panic only)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.settings import Settings

Permission = Literal["read", "control", "panic"]
PERMISSIONS: dict[str, frozenset[str]] = {
    "therapist": frozenset({"read", "control", "panic"}),
    "observer": frozenset({"read"}),
    "device": frozenset({"panic"}),
}

_bearer = HTTPBearer(auto_error=False, description="A token from ARCROOM_TOKENS")


@dataclass(frozen=True)
class Principal:
    name: str
    role: str


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    async def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
        settings: Settings = request.app.state.settings
        if not settings.tokens:
            # Only possible on loopback: Settings refuses any other address without tokens.
            return Principal("open", "therapist")
        # EventSource cannot send headers, so event streams (only) also accept ?access_token=.
        presented = credentials.credentials if credentials else None
        if presented is None and request.url.path.endswith("/stream"):
            presented = request.query_params.get("access_token")
        principal = None
        if presented:
            for token in settings.tokens:
                if secrets.compare_digest(presented.encode(), token.token.get_secret_value().encode()):
                    principal = Principal(token.name, token.role)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        if permission not in PERMISSIONS[principal.role]:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {principal.role!r} may not {permission} (token {principal.name!r})"
            )
        return principal

    return check


Read = Depends(require("read"))
Control = Depends(require("control"))
Panic = Depends(require("panic"))
