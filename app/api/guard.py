"""Refuse requests a browser was tricked into sending: a foreign Host (DNS rebinding) and, for
anything that changes the room, a foreign Origin (cross-site request forgery); and bodies
announced as larger than the service takes.

Without tokens the service trusts whoever reaches it on loopback, and a web page on the same
machine (the kiosk tablet's own browser) can reach loopback: a cross-site page could post a
plain-text form to /panic, or rebind its own name to 127.0.0.1. Browsers say where a request comes
from (Origin, Sec-Fetch-Site) and which name they think they are talking to (Host); clients that
are not browsers (curl, the wall button, Home Assistant, the tests) send no Origin and pass.

Starlette's TrustedHostMiddleware was considered; it parses "[::1]:8000" wrongly and answers in
plain text, and it checks no Origin, so this small middleware does both, answering like the API.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import safe_text

# Every method that can change something; GET and HEAD only read, and a browser will not let a
# cross-site page read the answer (no CORS headers are sent).
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Names that can only mean this machine: what a browser on it uses to reach an open service.
LOOPBACK_NAMES = ("localhost", "*.localhost")


@dataclass(frozen=True)
class HostPort:
    host: str  # lower case; an IPv6 address without brackets
    port: int | None

    def with_default_port(self, scheme: str) -> HostPort:
        return self if self.port is not None else HostPort(self.host, DEFAULT_PORTS.get(scheme))


def parse_host(value: str) -> HostPort | None:
    """A Host header (or an origin's netloc): "name", "name:port", "[v6]" or "[v6]:port"."""
    value = value.strip().lower()
    if not value or any(c in value for c in "/?#@ \\"):
        return None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
    else:
        host, sep, port_text = value.partition(":")
        rest = f":{port_text}" if sep else ""
    if rest and not (rest.startswith(":") and rest[1:].isdigit() and 0 < int(rest[1:]) < 65536):
        return None
    return HostPort(host.rstrip("."), int(rest[1:]) if rest else None) if host else None


def _is_loopback_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HostPatterns:
    """Names as ARCROOM_ALLOWED_HOSTS gives them: "arcroom.clinic.example", "*.clinic.example", "*"."""

    def __init__(self, patterns: Iterable[str], *, loopback: bool) -> None:
        self.patterns = tuple(p.lower().rstrip(".") for p in patterns)
        self.any = "*" in self.patterns
        self.loopback = loopback  # also every loopback address (127.0.0.1, [::1], ...) and name

    def allows(self, host: str) -> bool:
        if self.any or (self.loopback and _is_loopback_address(host)):
            return True
        patterns = self.patterns + (LOOPBACK_NAMES if self.loopback else ())
        return any(host == p or (p.startswith("*.") and host.endswith(p[1:])) for p in patterns)


def too_large(max_body_bytes: int) -> str:
    return f"the request body is larger than {max_body_bytes} bytes, the most this service takes"


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        hosts: HostPatterns,
        origins: Iterable[str] = (),
        max_body_bytes: int | None = None,
        siblings: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        """`siblings`: the other instances' addresses, as known now (their pages are this service's too)."""
        self.app = app
        self.hosts = hosts
        self.origins = frozenset(normalise_origin(o) for o in origins)
        self.siblings = siblings
        # A body announced as too large is refused before a byte of it is read; one sent in chunks
        # without a length is cut off as it arrives, past the limit.
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(scope, headers)
        if refusal is None:
            await self.app(scope, receive if self.max_body_bytes is None else self._counted(receive), send)
            return
        status, message = refusal
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"detail": message}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _counted(self, receive: Receive) -> Receive:
        limit, total = self.max_body_bytes, 0

        async def counted() -> Message:
            nonlocal total
            message = await receive()
            total += len(message.get("body", b""))
            if limit is not None and total > limit:
                # Raised where the route reads its body: FastAPI passes an HTTPException on as it is.
                raise HTTPException(413, too_large(limit))
            return message

        return counted

    def _refusal(self, scope: Scope, headers: Headers) -> tuple[int, str] | None:
        raw_host = headers.get("host", "")
        host = parse_host(raw_host)
        if host is None:
            return 400, "the request has no valid Host header"
        if not self.hosts.allows(host.host):
            return 400, (
                f"this service does not answer to the name {safe_text(host.host, 80)!r}; "
                "if it should, add it to ARCROOM_ALLOWED_HOSTS"
            )
        length = headers.get("content-length", "")
        # (A length of more digits than any body could have is not parsed: Python refuses past 4300.)
        if (
            self.max_body_bytes is not None
            and length.isdigit()
            and (len(length) > 18 or int(length) > self.max_body_bytes)
        ):
            return 413, too_large(self.max_body_bytes)
        if scope.get("method", "GET") not in MUTATING and scope["type"] == "http":
            return None
        origin = headers.get("origin")
        if origin is None:
            # Browsers send Origin with every cross-origin POST/PUT/DELETE; Sec-Fetch-Site is the
            # backstop for one that does not. Neither header: not a browser (curl, a wall button).
            if headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
                return 403, "cross-site request refused (Sec-Fetch-Site); send it from the dashboard itself"
            return None
        if normalise_origin(origin) in self.origins or self._same_origin(origin, host):
            return None
        if normalise_origin(origin) in {normalise_origin(address) for address in self.siblings()}:
            return None
        return 403, (
            f"cross-site request refused: origin {safe_text(origin, 80)!r} is not this service; "
            "if it should be allowed, add it to ARCROOM_ALLOWED_ORIGINS"
        )

    @staticmethod
    def _same_origin(origin: str, host: HostPort) -> bool:
        parts = urlsplit(origin.strip())
        origin_host = parse_host(parts.netloc) if parts.scheme in DEFAULT_PORTS else None
        if origin_host is None:
            return False  # "null" (a sandboxed frame, a file:// page) or garbage
        # A Host without a port means the browser used its scheme's default one (so an https page
        # behind a TLS proxy matches, though this service itself hears plain http).
        return origin_host.with_default_port(parts.scheme) == host.with_default_port(parts.scheme)


def normalise_origin(origin: str) -> str:
    """scheme://host[:port] in lower case, without a default port or a trailing slash."""
    parts = urlsplit(origin.strip().lower().rstrip("/"))
    host = parse_host(parts.netloc)
    if not parts.scheme or host is None:
        return origin.strip().lower()
    name = f"[{host.host}]" if ":" in host.host else host.host
    port = "" if host.port is None or host.port == DEFAULT_PORTS.get(parts.scheme) else f":{host.port}"
    return f"{parts.scheme}://{name}{port}"
