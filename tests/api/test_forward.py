"""The standby answers for the leader: what it passes on, and what it never passes on again."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.api.forward import ForwardToLeader
from app.leadership import Leader
from app.standby import FORWARDED_BY


def standby_app(leader_saw: list[httpx.Request]) -> Any:
    async def here(request: Request) -> JSONResponse:
        return JSONResponse({"detail": "answered by the standby"}, status_code=503)

    def leader(request: httpx.Request) -> httpx.Response:
        leader_saw.append(request)
        # As a real leader's answer arrives: a stream, not content already read.
        body = httpx.ByteStream(b'{"from":"the leader"}')
        return httpx.Response(200, stream=body, headers={"content-type": "application/json"})

    app = Starlette(routes=[Route("/api/{path:path}", here, methods=["GET", "POST"])])
    app.state.runtime = None
    app.state.leadership = SimpleNamespace(instance="b", leader=Leader("a", "http://a.clinic.lan:8000", 0.0, 7))
    app.add_middleware(ForwardToLeader, client=httpx.AsyncClient(transport=httpx.MockTransport(leader)))
    return app


async def test_a_request_is_passed_to_the_leader_with_its_token_and_the_mark_of_who_passed_it() -> None:
    leader_saw: list[httpx.Request] = []
    transport = httpx.ASGITransport(app=standby_app(leader_saw))
    async with httpx.AsyncClient(transport=transport, base_url="http://b.clinic.lan:8000") as c:
        r = await c.post("/api/rooms/one/session/note?x=1", json={"text": "hi"}, headers={"Authorization": "Bearer t"})
    assert (r.status_code, r.json()) == (200, {"from": "the leader"})
    (seen,) = leader_saw
    assert str(seen.url) == "http://a.clinic.lan:8000/api/rooms/one/session/note?x=1"
    assert seen.headers["authorization"] == "Bearer t" and seen.headers[FORWARDED_BY] == "b"
    assert seen.content == b'{"text":"hi"}'


async def test_a_request_passed_on_once_is_answered_not_passed_on_again() -> None:
    leader_saw: list[httpx.Request] = []
    transport = httpx.ASGITransport(app=standby_app(leader_saw))
    async with httpx.AsyncClient(transport=transport, base_url="http://b.clinic.lan:8000") as c:
        r = await c.get("/api/rooms/one/state", headers={FORWARDED_BY: "a"})  # a floating address led back here
        health = await c.get("/api/health")
    assert r.status_code == 503 and health.status_code == 503 and leader_saw == []
