"""The standby answers for the leader: an API request it receives is passed to the leader and the
leader's answer (a stream included) passed back, so a tablet on either instance sees the room and
can command it. The standby's own health, and a panic (app/standby.py: it does not wait for a
leader), are answered here. With no leader to reach, the request falls through to the routes:
a room's state and its stream are answered from the broker and the record (app/standby_views.py),
anything else 503 naming the leader.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.leadership import Leadership
from app.standby import FORWARDED_BY

log = logging.getLogger(__name__)

# Connecting to the leader: quick, or it is not there (a frozen leader's kernel still accepts the
# connection: the answer's deadline finds it). A room's event stream sends a keep-alive every 15 s,
# so a stream silent for twice that is gone.
TIMEOUT = httpx.Timeout(connect=0.5, read=5.0, write=5.0, pool=5.0)
STREAM_TIMEOUT = httpx.Timeout(connect=0.5, read=30.0, write=5.0, pool=5.0)
NOT_FORWARDED = ("host", "content-length", "connection", "transfer-encoding", "keep-alive")


def _answered_here(path: str) -> bool:
    return not path.startswith("/api/") or path == "/api/health" or path.endswith("/panic")


class ForwardToLeader:
    def __init__(self, app: ASGIApp, client: httpx.AsyncClient | None = None) -> None:
        self.app = app
        self._client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _answered_here(scope["path"]):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        leadership: Leadership | None = getattr(state, "leadership", None)
        leader = leadership.leader if leadership is not None else None
        runs_here = getattr(state, "runtime", None) is not None
        again = any(k.lower() == FORWARDED_BY.encode() for k, _ in scope["headers"])
        if runs_here or again or leadership is None or leader is None or leader.instance == leadership.instance:
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT)
        query = scope.get("query_string", b"").decode("latin-1")
        url = f"{leader.address.rstrip('/')}{scope['path']}" + (f"?{query}" if query else "")
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in NOT_FORWARDED
        ]
        headers.append((FORWARDED_BY, leadership.instance))
        timeout = STREAM_TIMEOUT if scope["path"].endswith("/stream") else TIMEOUT
        request = self._client.build_request(scope["method"], url, headers=headers, content=body, timeout=timeout)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            log.warning(
                "standby: the leader %s did not take %s %s (%r)", leader.instance, scope["method"], scope["path"], exc
            )
            await self.app(scope, _replay(body, receive), send)  # answered here (app/standby_views.py)
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (k.encode("latin-1"), v.encode("latin-1"))
                        for k, v in response.headers.multi_items()
                        if k.lower() not in NOT_FORWARDED
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx.HTTPError as exc:  # the leader went away mid-answer: end it; a stream reconnects
            log.warning("standby: the leader %s stopped answering %s (%r)", leader.instance, scope["path"], exc)
        finally:
            await response.aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _replay(body: bytes, receive: Receive) -> Receive:
    """The request's body again (it was read to be passed on), then what the client does next: a
    stream answered here ends when the client goes, not at once."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        message: dict[str, Any] = {"type": "http.request", "body": body, "more_body": False}
        return message

    return replayed
