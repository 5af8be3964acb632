"""Every route × every role × no token (and a wrong one): the expected 2xx, 401 or 403, and a refused
request changes nothing. The table must name every route the app has: a new route without a row
fails here until someone decides who may call it."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.routing import Mount

import app.api as app_api
from app.domain.clock import ManualClock
from app.settings import Settings, Token
from tests.conftest import Service, serve

TOKENS = {"therapist": "tablet-Therapist-9xQ", "observer": "observer-Nurse-4kW7a", "device": "device-WallButton-3p"}
WRONG = "w" * 20
ROOM_TWO = "room-Two-tablet-5Rk8"  # a therapist's token for room two only
PERMISSIONS = {"therapist": {"read", "control", "panic"}, "observer": {"read"}, "device": {"panic"}}
CALLERS = [*TOKENS, "none", "wrong"]


@dataclass(frozen=True)
class Row:
    method: str
    template: str  # as the app declares it
    needs: str | None  # read | control | panic; None: anyone (the dashboard's files, health, docs)
    path: str = ""  # a concrete path to call (default: the template)
    body: dict[str, Any] | None = None
    refused_by_the_room: int | None = None  # allowed callers get this domain answer (404/409), not a 2xx

    @property
    def url(self) -> str:
        return self.path or self.template


# In the order the therapist calls them, each answering 2xx: one session in room one that the
# therapist runs through every command, and a second in room two.
ROWS = [
    Row("GET", "/", None),
    Row("GET", "/overview", None),
    Row("GET", "/manifest.webmanifest", None),
    Row("GET", "/sw.js", None),
    Row("GET", "/favicon.ico", None),
    Row("GET", "/openapi.json", None),
    Row("GET", "/docs", None),
    Row("GET", "/docs/oauth2-redirect", None),
    Row("GET", "/redoc", None),
    Row("GET", "/api/health", None),
    Row("GET", "/api/presets", "read"),
    Row("GET", "/api/presets/{preset_id}", "read", "/api/presets/psilocybin"),
    Row("GET", "/api/scenes", "read"),
    Row("GET", "/api/rooms", "read"),
    Row("GET", "/api/rooms/{room}", "read", "/api/rooms/one"),
    Row("GET", "/api/rooms/{room}/state", "read", "/api/rooms/one/state"),
    Row("GET", "/api/rooms/{room}/stream", "read", "/api/rooms/one/stream"),
    Row("GET", "/api/rooms/{room}/plan", "read", "/api/rooms/one/plan"),
    Row("GET", "/api/sessions/{session_id}/events", "read", "/api/sessions/{session}/events"),
    Row("GET", "/api/sessions/{session_id}/report", "read", "/api/sessions/{session}/report"),
    Row("GET", "/api/sessions", "read"),
    Row("GET", "/api/readings", "read"),
    Row("GET", "/api/quick-notes", "read"),
    Row("GET", "/metrics", "read"),
    Row("POST", "/api/stream-tickets", "read"),
    Row("POST", "/api/rooms/{room}/session", "control", "/api/rooms/two/session", {"preset": "esketamine"}),
    Row("POST", "/api/rooms/{room}/session/dose", "control", "/api/rooms/two/session/dose", {"amount": "56 mg"}),
    Row("POST", "/api/rooms/{room}/session/ready-to-leave", "control", "/api/rooms/two/session/ready-to-leave"),
    Row(
        "POST",
        "/api/rooms/{room}/session/facilitators",
        "control",
        "/api/rooms/one/session/facilitators",
        {"name": "A. Rivera"},
    ),
    Row(
        "DELETE",
        "/api/rooms/{room}/session/facilitators/{name}",
        "control",
        "/api/rooms/one/session/facilitators/A. Rivera",
    ),
    Row(
        "POST",
        "/api/rooms/{room}/session/readings",
        "control",
        "/api/rooms/one/session/readings",
        {"readings": {"heart_rate_bpm": 72}},
    ),
    Row(
        "POST",
        "/api/rooms/{room}/session/alerts/{alert_id}/ack",
        "control",
        "/api/rooms/one/session/alerts/{alert}/ack",
    ),
    Row("POST", "/api/rooms/{room}/session/advance", "control", "/api/rooms/one/session/advance"),
    Row("POST", "/api/rooms/{room}/session/advance/undo", "control", "/api/rooms/one/session/advance/undo"),
    Row("POST", "/api/rooms/{room}/session/extend", "control", "/api/rooms/one/session/extend", {"minutes": 5}),
    Row("POST", "/api/rooms/{room}/session/hold", "control", "/api/rooms/one/session/hold"),
    Row("POST", "/api/rooms/{room}/session/resume", "control", "/api/rooms/one/session/resume"),
    Row("POST", "/api/rooms/{room}/session/note", "control", "/api/rooms/one/session/note", {"text": "calm"}),
    Row(
        "POST",
        "/api/rooms/{room}/session/cues/{cue_id}/ack",
        "control",
        "/api/rooms/one/session/cues/vitals@60/ack",
        {"not_taken_reason": "drill"},
    ),
    Row("PUT", "/api/rooms/{room}/lights", "control", "/api/rooms/one/lights", {"brightness": 40}),
    Row("PUT", "/api/rooms/{room}/lights/{light}", "control", "/api/rooms/one/lights/ceiling", {"brightness": 30}),
    Row("DELETE", "/api/rooms/{room}/lights/override", "control", "/api/rooms/one/lights/override"),
    Row("POST", "/api/rooms/{room}/audio", "control", "/api/rooms/one/audio", {"volume": 30}),
    Row("POST", "/api/rooms/{room}/audio/talk", "control", "/api/rooms/one/audio/talk", {"on": True}),
    Row("GET", "/api/rooms/{room}/audio/playlists", "read", "/api/rooms/one/audio/playlists"),
    # The demo playlist is already playing, and has no intensity tags: the room says so.
    Row(
        "POST",
        "/api/rooms/{room}/audio/playlist",
        "control",
        "/api/rooms/one/audio/playlist",
        {"playlist": "demo_psilocybin"},
        refused_by_the_room=409,
    ),
    Row("POST", "/api/rooms/{room}/audio/gentler", "control", "/api/rooms/one/audio/gentler", refused_by_the_room=409),
    Row("POST", "/api/rooms/{room}/panic", "panic", "/api/rooms/one/panic"),
    Row("POST", "/api/rooms/{room}/panic/clear", "control", "/api/rooms/one/panic/clear", {"mode": "restore"}),
    Row("POST", "/api/rooms/{room}/session/end", "control", "/api/rooms/one/session/end", {"override_reason": "drill"}),
    Row("POST", "/api/rooms/{room}/session/end", "control", "/api/rooms/two/session/end", {"override_reason": "drill"}),
    Row(
        "POST",
        "/api/sessions/{session_id}/rems/filed",
        "control",
        "/api/sessions/{session_two}/rems/filed",
        {"reference": "drill"},
    ),
]


def headers(caller: str) -> dict[str, str]:
    if caller == "none":
        return {}
    return {"Authorization": f"Bearer {TOKENS.get(caller, WRONG)}"}


def allowed(row: Row, caller: str) -> bool:
    return row.needs is None or row.needs in PERMISSIONS.get(caller, set())


async def call(client: httpx.AsyncClient, row: Row, caller: str, session: str) -> tuple[int, str]:
    url = row.url.replace("{session}", session)
    if "{alert}" in url or "{session_two}" in url:  # made by the calls before it: looked up now
        two = (await client.get("/api/sessions", headers=headers("therapist"))).json()
        esketamine = [s for s in two if (s.get("preset_id") or s.get("preset")) == "esketamine"]
        url = url.replace("{session_two}", esketamine[0]["session_id"] if esketamine else "none")
        if "{alert}" in url:
            session_view = (await client.get("/api/rooms/one/state", headers=headers("therapist"))).json()["session"]
            alerts = session_view["alerts"]  # open ones: two facilitators are required, none signed in
            url = url.replace("{alert}", alerts[0]["id"] if alerts else "none")
    if row.template.endswith("/stream"):
        async with asyncio.timeout(5), client.stream("GET", url, headers=headers(caller)) as r:
            if r.status_code != 200:
                return r.status_code, (await r.aread()).decode()
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    return 200, line
        raise AssertionError("the stream closed before its first event")
    r = await client.request(row.method, url, json=row.body, headers=headers(caller))
    return r.status_code, r.text


@pytest.fixture
async def secured(settings: Settings, clock: ManualClock, tmp_path: Path) -> AsyncIterator[Service]:
    rooms = tmp_path / "rooms-matrix.yaml"
    rooms.write_text(
        "rooms:\n"
        "  - id: one\n    name: Room one\n    audio: {output: dummy}\n"
        f"    lights:\n      - {{name: ceiling, profile: zigbee2mqtt, topic: matrix_{uuid.uuid4().hex[:8]}, role: ceiling}}\n"
        "  - id: two\n    name: Room two\n    audio: {output: dummy}\n"
    )
    tokens = [Token(name=f"{role}-1", role=role, token=SecretStr(token)) for role, token in TOKENS.items()]  # type: ignore[arg-type]
    tokens.append(Token(name="tablet-room-two", role="therapist", token=SecretStr(ROOM_TWO), rooms=["two"]))
    async with serve(settings.model_copy(update={"tokens": tokens, "rooms_file": rooms}), clock) as svc:
        yield svc


def test_the_table_names_every_route_the_app_has(secured: Service) -> None:
    app = secured.app
    # The API docs, served by the service itself (fastapi-offline: Swagger UI and ReDoc from a package).
    declared = {("GET", url) for url in (app.openapi_url, "/docs", "/redoc", app.swagger_ui_oauth2_redirect_url)}
    for module in pkgutil.iter_modules(app_api.__path__):
        if module.name.startswith("routes_"):
            router = importlib.import_module(f"app.api.{module.name}").router
            declared |= {(m, route.path) for route in router.routes for m in route.methods - {"HEAD"}}
    assert declared == {(row.method, row.template) for row in ROWS}
    # What the OpenAPI document lists is among them (schemathesis, in test_schemathesis.py, calls those).
    documented = {(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops}
    assert documented <= declared
    # Public files, checked below: the docs' assets and the dashboard's.
    assert [r.path for r in app.routes if isinstance(r, Mount)] == ["/static/api-docs", "/static"]


async def test_every_route_answers_every_caller_as_its_role_allows(secured: Service) -> None:
    c = secured.client
    therapist = headers("therapist")
    r = await c.post("/api/rooms/one/session", json={"preset": "psilocybin", "client_label": "P-1"}, headers=therapist)
    assert r.status_code == 201, r.text
    session = r.json()["session_id"]
    assert (await c.post("/api/rooms/one/session/dose", json={}, headers=therapist)).status_code == 200
    await secured.clock.advance(61 * 60)  # the vitals check at 60 min falls due

    async def snapshot() -> list[Any]:
        views = [(await c.get(f"/api/rooms/{room}", headers=therapist)).json() for room in ("one", "two")]
        return [(v["session"] or {}).get("event_count") for v in views] + [v["panic"] for v in views]

    # 1. Every caller that may not: 401 without a valid token, 403 with a role that lacks the right.
    before = await snapshot()
    refused = 0
    for row in ROWS:
        for caller in CALLERS:
            if allowed(row, caller):
                continue
            status, text = await call(c, row, caller, session)
            expected = 401 if caller in ("none", "wrong") else 403
            assert status == expected, (row.method, row.template, caller, status, text)
            refused += 1
    assert await snapshot() == before, "a refused request changed the room"
    # None and wrong are refused every row that needs a right, observers those that are not reads,
    # devices those that are not panic, therapists none.
    needing = [row.needs for row in ROWS if row.needs is not None]
    assert refused == 2 * len(needing) + sum(n != "read" for n in needing) + sum(n != "panic" for n in needing)

    # 2. Every caller that may: 2xx, the therapist last so that the commands run in order.
    for row in ROWS:
        for caller in ["observer", "device", "none", "wrong", "therapist"]:
            if allowed(row, caller):
                status, text = await call(c, row, caller, session)
                if row.refused_by_the_room is not None:
                    assert status == row.refused_by_the_room, (row.method, row.template, caller, status, text[:300])
                else:
                    assert 200 <= status < 300, (row.method, row.template, caller, status, text[:300])

    # The dashboard's files are public too.
    assert (await c.get("/static/js/api.js")).status_code == 200


def room_of(row: Row) -> str | None:
    """The room a row acts in or reads (its session's room for the session routes), or None for a global one."""
    url = row.url
    if url.startswith("/api/rooms/"):
        return url.split("/")[3]
    if "{session}" in url:
        return "one"
    if "{session_two}" in url:
        return "two"
    return None


async def test_a_token_for_one_room_is_refused_in_the_others_except_for_panic(secured: Service) -> None:
    c = secured.client
    therapist, two = headers("therapist"), {"Authorization": f"Bearer {ROOM_TWO}"}
    r = await c.post("/api/rooms/one/session", json={"preset": "psilocybin", "client_label": "P-1"}, headers=therapist)
    session = r.json()["session_id"]
    before = (await c.get("/api/rooms/one", headers=therapist)).json()["session"]["event_count"]

    elsewhere = [row for row in ROWS if row.needs in ("read", "control") and room_of(row) == "one"]
    assert len(elsewhere) > 20
    for row in elsewhere:
        url = row.url.replace("{session}", session).replace("{alert}", "none").replace("{cue}", "none")
        r = await c.request(row.method, url, json=row.body, headers=two)
        assert r.status_code == 403, (row.method, url, r.status_code, r.text)
        assert r.json()["detail"] == "token 'tablet-room-two' is for room(s) two, not 'one'"
    assert (await c.get("/api/rooms/one", headers=therapist)).json()["session"]["event_count"] == before

    # Its own room, and the lists, which show only its room.
    assert (await c.post("/api/rooms/two/session", json={"preset": "esketamine"}, headers=two)).status_code == 201
    assert [v["id"] for v in (await c.get("/api/rooms", headers=two)).json()] == ["two"]
    assert {s["room"] for s in (await c.get("/api/sessions", headers=two)).json()} == {"two"}
    assert {s["room"] for s in (await c.get("/api/sessions", headers=therapist)).json()} == {"one", "two"}

    # Panic in any room: a clinic's safety rule. Clearing it is a room's command, for room one's tablets.
    r = await c.post("/api/rooms/one/panic", headers=two)
    assert r.status_code == 200, r.text
    assert (await c.post("/api/rooms/one/panic/clear", json={"mode": "restore"}, headers=two)).status_code == 403
    assert (await c.post("/api/rooms/one/panic/clear", json={"mode": "restore"}, headers=therapist)).status_code == 200


def test_a_token_for_a_room_the_rooms_file_lacks_stops_the_start(settings: Settings) -> None:
    from app.api.app import create_app
    from app.config_files import ConfigFileError

    token = Token(name="tablet-3", role="therapist", token=SecretStr(ROOM_TWO), rooms=["three"])
    with pytest.raises(ConfigFileError) as raised:
        create_app(settings.model_copy(update={"tokens": [token]}))
    assert raised.value.problems == [
        f"ARCROOM_TOKENS: token 'tablet-3' is for room 'three', which {settings.rooms_file} does not have (rooms: one, two)"
    ]
