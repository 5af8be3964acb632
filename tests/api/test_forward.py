"""The standby answers for the leader: what it passes on, and what it never passes on again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.api.app import create_app, leadership_for
from app.api.forward import ForwardToLeader
from app.leadership import Leader
from app.settings import Settings
from app.standby import FORWARDED_BY
from tests.conftest import catalog_for
from tests.support import Mosquitto, sniffing, unique


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


async def test_a_panic_passed_on_to_a_standby_is_left_to_the_instance_that_passed_it_on(
    settings: Settings, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The instance that passes a panic on lights the room itself when no leader answers it in time:
    a standby that acted on it too would act twice, or late (a request that reached a frozen leader
    is read as it thaws, when it stands by)."""
    room, lamp = unique("room"), unique("lamp")  # topics of their own on the shared broker
    rooms = tmp_path / "rooms.yaml"
    rooms.write_text(
        f"rooms:\n  - id: {room}\n    name: A room\n    audio: {{output: dummy}}\n    lights:\n"
        f"      - {{name: lamp, profile: shelly_gen1, topic: {lamp}, role: lamp}}\n"
    )
    standby = settings.model_copy(
        update={
            "instance": "a",
            "database": "postgresql://arcroom@db.clinic.lan/arcroom",
            "mqtt_client_id": unique("a"),
            "rooms_file": rooms,
        }
    )
    app = create_app(standby, catalog=catalog_for(standby))
    app.state.runtime = None  # standing by (the lifespan, which would elect, is not run)
    app.state.leadership = leadership_for(standby)
    async with sniffing(mosquitto.port) as broker:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
            r = await c.post(f"/api/rooms/{room}/panic", headers={FORWARDED_BY: "b"})
        await asyncio.sleep(0.5)
    assert r.status_code == 503 and "the instance that passed this panic on lights the room" in r.json()["detail"]
    sent = [topic for topic, _ in broker.messages if room in topic or lamp in topic]
    assert sent == [], "the standby lit the room too"
