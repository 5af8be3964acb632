"""Bearer tokens with roles: therapist (everything), observer (read only), device (panic only).

With no tokens configured the service is open (and only allowed on loopback)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from app.domain.clock import ManualClock
from app.settings import Settings, Token
from tests.conftest import Service, serve

THERAPIST = "tablet-Therapist-9xQ"
OBSERVER = "observer-Nurse-4kW7a"
DEVICE = "device-WallButton-3p"
WRONG = "w" * 20

READ_TIMEOUT_S = 5.0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def secured(settings: Settings, clock: ManualClock) -> AsyncIterator[Service]:
    tokens = [
        Token(name="tablet-room-1", role="therapist", token=SecretStr(THERAPIST)),
        Token(name="nurse-station", role="observer", token=SecretStr(OBSERVER)),
        Token(name="panic-button-1", role="device", token=SecretStr(DEVICE)),
    ]
    async with serve(settings.model_copy(update={"tokens": tokens}), clock) as svc:
        yield svc


async def start_as_therapist(svc: Service) -> str:
    r = await svc.client.post(
        "/api/rooms/one/session", json={"preset": "psilocybin", "client_label": "P-1"}, headers=bearer(THERAPIST)
    )
    assert r.status_code == 201, r.text
    return str(r.json()["session_id"])


def read_paths(session_id: str) -> list[str]:
    return [
        "/api/presets",
        "/api/presets/psilocybin",
        "/api/rooms",
        "/api/rooms/one",
        "/api/rooms/one/state",
        f"/api/sessions/{session_id}/events",
        f"/api/sessions/{session_id}/report",
        f"/api/sessions/{session_id}/report?format=csv",
    ]


COMMANDS: list[tuple[str, dict[str, Any] | None]] = [
    ("/api/rooms/two/session", {"preset": "mdma"}),
    ("/api/rooms/one/session/dose", {}),
    ("/api/rooms/one/session/advance", None),
    ("/api/rooms/one/session/extend", {"minutes": 10}),
    ("/api/rooms/one/session/hold", None),
    ("/api/rooms/one/session/resume", None),
    ("/api/rooms/one/session/note", {"text": "hello"}),
    ("/api/rooms/one/session/cues/baseline@0/ack", {"not_taken_reason": "client asleep"}),
    ("/api/rooms/one/session/end", {"override_reason": "test"}),
]


async def first_stream_line(client: httpx.AsyncClient, url: str, **kwargs: Any) -> tuple[int, str, str]:
    """Open the stream; return its status, content type and first line (or the error body)."""
    async with asyncio.timeout(READ_TIMEOUT_S), client.stream("GET", url, **kwargs) as r:
        if r.status_code != 200:
            await r.aread()
            return r.status_code, r.headers.get("content-type", ""), r.text
        async for line in r.aiter_lines():
            if line and not line.startswith(":"):
                return r.status_code, r.headers["content-type"], line
    raise AssertionError("the stream closed before its first line")


# --- 401: no token or a wrong one ----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer(WRONG),
        bearer(THERAPIST[:-1]),  # a prefix of a real token is not that token
        {"Authorization": f"Basic {THERAPIST}"},
        {"Authorization": THERAPIST},
    ],
    ids=["none", "wrong", "prefix", "basic-scheme", "no-scheme"],
)
async def test_requests_without_a_valid_token_are_401(secured: Service, headers: dict[str, str]) -> None:
    c = secured.client
    for method, path, body in [
        ("GET", "/api/rooms", None),
        ("GET", "/api/rooms/one/state", None),
        ("GET", "/api/presets", None),
        ("POST", "/api/rooms/one/session", {"preset": "psilocybin"}),
    ]:
        r = await c.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, (path, r.text)
        assert r.json() == {"detail": "a valid bearer token is required"}
        assert r.headers["www-authenticate"] == "Bearer"
    # Nothing was started by the refused POST.
    r = await c.get("/api/rooms/one/state", headers=bearer(THERAPIST))
    assert r.json()["session"] is None


async def test_wrong_token_is_401_on_session_records(secured: Service) -> None:
    session_id = await start_as_therapist(secured)
    for path in read_paths(session_id)[5:]:
        r = await secured.client.get(path, headers=bearer(WRONG))
        assert r.status_code == 401, (path, r.text)
        assert r.json() == {"detail": "a valid bearer token is required"}


# --- therapist: everything -----------------------------------------------------------------------


async def test_therapist_can_read_and_run_a_session(secured: Service) -> None:
    c, h = secured.client, bearer(THERAPIST)
    session_id = await start_as_therapist(secured)
    for path in read_paths(session_id):
        r = await c.get(path, headers=h)
        assert r.status_code == 200, (path, r.text)
    for path, body in [
        ("/dose", {"amount": "25 mg"}),
        ("/extend", {"minutes": 5}),
        ("/hold", None),
        ("/resume", None),
        ("/note", {"text": "calm"}),
        ("/cues/baseline@0/ack", {"readings": {"systolic_mmhg": 118, "diastolic_mmhg": 76, "heart_rate_bpm": 64}}),
        ("/facilitators", {"name": "A. Rivera"}),
        ("/advance", None),
    ]:
        r = await c.post(f"/api/rooms/one/session{path}", json=body, headers=h)
        assert r.status_code == 200, (path, r.text)
    assert r.json()["phase"] == "ascent"
    r = await c.post("/api/rooms/one/session/end", json={"override_reason": "client unwell"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ended"
    # Every command's event names its actor: the token's name.
    events = (await c.get(f"/api/sessions/{session_id}/events", headers=h)).json()
    commands = [e for e in events if e["type"] not in ("phase_advanced",) or e["data"].get("from")]
    assert {e["data"].get("by") for e in commands} == {"http:tablet-room-1"}, [
        (e["type"], e["data"].get("by")) for e in commands
    ]


# --- observer: read only -------------------------------------------------------------------------


async def test_observer_can_read_everything(secured: Service) -> None:
    session_id = await start_as_therapist(secured)
    for path in read_paths(session_id):
        r = await secured.client.get(path, headers=bearer(OBSERVER))
        assert r.status_code == 200, (path, r.text)
    r = await secured.client.get("/api/rooms/one/state", headers=bearer(OBSERVER))
    assert r.json()["session"]["session_id"] == session_id
    assert r.json()["session"]["client_label"] == "P-1"


@pytest.mark.parametrize(("path", "body"), COMMANDS)
async def test_observer_cannot_control_a_session(secured: Service, path: str, body: dict[str, Any] | None) -> None:
    c = secured.client
    await start_as_therapist(secured)
    await c.post("/api/rooms/one/session/dose", json={}, headers=bearer(THERAPIST))
    before = (await c.get("/api/rooms/one/state", headers=bearer(THERAPIST))).json()["session"]

    r = await c.post(path, json=body, headers=bearer(OBSERVER))
    assert r.status_code == 403, r.text
    assert r.json() == {"detail": "role 'observer' may not control (token 'nurse-station')"}

    after = (await c.get("/api/rooms/one/state", headers=bearer(THERAPIST))).json()["session"]
    assert after["event_count"] == before["event_count"]
    assert after["status"] == "running"
    room_two = (await c.get("/api/rooms/two/state", headers=bearer(THERAPIST))).json()
    assert room_two["session"] is None


async def test_observer_can_open_the_stream_with_a_header_or_access_token(secured: Service) -> None:
    c = secured.client
    status, content_type, line = await first_stream_line(c, "/api/rooms/one/stream", headers=bearer(OBSERVER))
    assert (status, line) == (200, "event: state")
    assert content_type.startswith("text/event-stream")

    status, content_type, line = await first_stream_line(c, "/api/rooms/one/stream", params={"access_token": OBSERVER})
    assert (status, line) == (200, "event: state")
    assert content_type.startswith("text/event-stream")


# --- device: panic only --------------------------------------------------------------------------


async def test_device_cannot_read(secured: Service) -> None:
    session_id = await start_as_therapist(secured)
    for path in read_paths(session_id):
        r = await secured.client.get(path, headers=bearer(DEVICE))
        assert r.status_code == 403, (path, r.text)
        assert r.json() == {"detail": "role 'device' may not read (token 'panic-button-1')"}


@pytest.mark.parametrize(("path", "body"), COMMANDS)
async def test_device_cannot_control_a_session(secured: Service, path: str, body: dict[str, Any] | None) -> None:
    c = secured.client
    await start_as_therapist(secured)
    before = (await c.get("/api/rooms/one/state", headers=bearer(THERAPIST))).json()["session"]

    r = await c.post(path, json=body, headers=bearer(DEVICE))
    assert r.status_code == 403, r.text
    assert r.json() == {"detail": "role 'device' may not control (token 'panic-button-1')"}

    after = (await c.get("/api/rooms/one/state", headers=bearer(THERAPIST))).json()["session"]
    assert after["event_count"] == before["event_count"]
    assert (await c.get("/api/rooms/two/state", headers=bearer(THERAPIST))).json()["session"] is None


async def test_device_cannot_open_the_stream(secured: Service) -> None:
    for kwargs in ({"headers": bearer(DEVICE)}, {"params": {"access_token": DEVICE}}):
        status, _, body = await first_stream_line(secured.client, "/api/rooms/one/stream", **kwargs)
        assert status == 403, body
        assert "role 'device' may not read" in body


# --- the stream and its ?access_token= -----------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"params": {"access_token": WRONG}},
        {"params": {"access_token": ""}},
        {"headers": bearer(WRONG)},
    ],
    ids=["none", "wrong-access-token", "empty-access-token", "wrong-header"],
)
async def test_stream_without_a_valid_token_is_401(secured: Service, kwargs: dict[str, Any]) -> None:
    status, _, body = await first_stream_line(secured.client, "/api/rooms/one/stream", **kwargs)
    assert status == 401, body
    assert "a valid bearer token is required" in body


async def test_therapist_access_token_opens_the_stream(secured: Service) -> None:
    status, _, line = await first_stream_line(
        secured.client, "/api/rooms/one/stream", params={"access_token": THERAPIST}
    )
    assert (status, line) == (200, "event: state")


async def test_unknown_room_stream_with_a_valid_token_is_404(secured: Service) -> None:
    status, _, body = await first_stream_line(
        secured.client, "/api/rooms/nowhere/stream", params={"access_token": OBSERVER}
    )
    assert status == 404, body
    assert "no room 'nowhere'" in body


# --- no tokens: open, but only on loopback -------------------------------------------------------


async def test_without_tokens_the_service_is_open(live_service: Service) -> None:
    c = live_service.client
    r = await c.get("/api/rooms")
    assert r.status_code == 200, r.text
    assert [room["id"] for room in r.json()] == ["one", "two"]
    r = await c.post("/api/rooms/one/session", json={"preset": "psilocybin"})
    assert r.status_code == 201, r.text
    r = await c.post("/api/rooms/one/session/dose", json={})
    assert r.status_code == 200, r.text
    status, _, line = await first_stream_line(c, "/api/rooms/one/stream")
    assert (status, line) == (200, "event: state")


def test_settings_refuse_an_open_service_off_loopback(tmp_path: Any) -> None:
    with pytest.raises(ValidationError, match=r"refusing to listen on 0\.0\.0\.0 with no access tokens"):
        Settings(_env_file=None, host="0.0.0.0", database=tmp_path / "db")  # type: ignore[call-arg]
    # With a token it may listen on the network.
    settings = Settings(
        _env_file=None,
        host="0.0.0.0",
        database=tmp_path / "db",  # type: ignore[call-arg]
        tokens=[Token(name="tablet", role="therapist", token=SecretStr(THERAPIST))],
    )
    assert settings.tokens[0].role == "therapist"


def test_settings_refuse_short_tokens() -> None:
    with pytest.raises(ValidationError, match="tokens must be at least 16 characters"):
        Token(name="tablet", role="therapist", token=SecretStr("short"))


async def test_the_record_names_the_person_acting_and_a_bad_name_never_blocks_a_panic(secured: Service) -> None:
    """X-Arcroom-Acting-As (percent-encoded) adds the person to `by`; a value that is no usable name
    is left out of the record, never answered with a 4xx (a panic must not fail on it)."""
    c = secured.client
    person = {"X-Arcroom-Acting-As": "Zo%C3%AB%20Adeyemi", **bearer(THERAPIST)}
    r = await c.post("/api/rooms/one/session", json={"preset": "psilocybin"}, headers=person)
    assert r.status_code == 201, r.text
    session = r.json()["session_id"]
    r = await c.post("/api/rooms/one/panic", headers={"X-Arcroom-Acting-As": "x" * 500, **bearer(DEVICE)})
    assert r.status_code == 200, r.text
    events = (await c.get(f"/api/sessions/{session}/events", headers=bearer(THERAPIST))).json()
    assert events[0]["data"]["by"] == "Zoë Adeyemi via http:tablet-room-1"
    state = (await c.get("/api/rooms/one/state", headers=bearer(THERAPIST))).json()
    assert state["panic"]["by"] == "http:panic-button-1"
