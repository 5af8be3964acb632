"""Cross-site requests and foreign names are refused, in open mode too; the dashboard (same origin)
and clients that are not browsers (no Origin: curl, the wall button, the tests) still get in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.api.guard import HostPatterns, RequestGuard, normalise_origin, parse_host
from app.domain.clock import ManualClock
from app.settings import Settings, Token
from tests.conftest import Service, serve_in_process

ROOM = "/api/rooms/one"
SESSION = f"{ROOM}/session"
EVIL = "https://evil.example"
# What a cross-site page can send without a preflight: a "simple" request, body as text/plain.
SIMPLE = {"Content-Type": "text/plain"}


async def start(c: httpx.AsyncClient) -> None:
    r = await c.post(SESSION, json={"preset": "psilocybin"})
    assert r.status_code == 201, r.text


async def session(c: httpx.AsyncClient) -> dict[str, Any]:
    r = await c.get(f"{ROOM}/state")
    assert r.status_code == 200, r.text
    return dict(r.json()["session"])


@pytest.fixture
async def proxied(settings: Settings, clock: ManualClock) -> AsyncIterator[Service]:
    """Open mode behind a proxy that keeps the clinic's name and serves the dashboard over https."""
    configured = settings.model_copy(
        update={
            "allowed_hosts": ("arcroom.clinic.example", "*.wards.example"),
            "allowed_origins": ("https://portal.clinic.example",),
        }
    )
    async with serve_in_process(configured, clock) as svc:
        yield svc


# --- Origin: cross-site commands refused, in open mode -------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [("/dose", b"{}"), ("/advance", b""), ("/hold", b""), ("/note", b'{"text": "x"}'), ("/end", b"")],
)
async def test_a_cross_site_command_is_refused_and_changes_nothing(service: Service, path: str, body: bytes) -> None:
    c = service.client
    await start(c)
    before = await session(c)
    r = await c.post(f"{SESSION}{path}", content=body, headers={**SIMPLE, "Origin": EVIL})
    assert r.status_code == 403, r.text
    assert r.json() == {
        "detail": "cross-site request refused: origin 'https://evil.example' is not this service; "
        "if it should be allowed, add it to ARCROOM_ALLOWED_ORIGINS"
    }
    after = await session(c)
    assert (after["event_count"], after["status"], after["dose_at"]) == (
        before["event_count"],
        before["status"],
        before["dose_at"],
    )


async def test_a_cross_site_panic_is_refused(service: Service) -> None:
    c = service.client
    for origin in (EVIL, "null", "http://localhost:3000", "http://127.0.0.1:8001"):
        r = await c.post(f"{ROOM}/panic", content=b"", headers={**SIMPLE, "Origin": origin})
        assert r.status_code == 403, (origin, r.text)
    assert (await c.get(f"{ROOM}/state")).json()["panic"]["active"] is False


async def test_a_cross_site_request_without_origin_is_refused_by_sec_fetch_site(service: Service) -> None:
    c = service.client
    for site in ("cross-site", "same-site"):
        r = await c.post(f"{ROOM}/panic", headers={"Sec-Fetch-Site": site})
        assert r.status_code == 403, r.text
        assert "Sec-Fetch-Site" in r.json()["detail"]
    assert (await c.get(f"{ROOM}/state")).json()["panic"]["active"] is False


async def test_the_dashboard_and_clients_without_origin_still_command(service: Service) -> None:
    c = service.client
    # The dashboard: same origin (the in-process client talks to 127.0.0.1:8000).
    r = await c.post(SESSION, json={"preset": "psilocybin"}, headers={"Origin": "http://127.0.0.1:8000"})
    assert r.status_code == 201, r.text
    r = await c.post(
        f"{SESSION}/dose", json={}, headers={"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"}
    )
    assert r.status_code == 200, r.text
    # curl, a wall button: no Origin at all.
    r = await c.post(f"{ROOM}/panic")
    assert r.status_code == 200, r.text
    assert r.json()["panic"] is True


async def test_reads_are_not_checked_for_origin(service: Service) -> None:
    # A browser will not let a cross-site page read the answer (no CORS headers), so GETs pass.
    r = await service.client.get(f"{ROOM}/state", headers={"Origin": EVIL})
    assert r.status_code == 200, r.text
    assert "access-control-allow-origin" not in r.headers


# --- Host: DNS rebinding refused -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_foreign_host_name_is_refused_in_open_mode(service: Service, method: str) -> None:
    c = service.client
    r = await c.request(
        method, f"{ROOM}/panic" if method == "POST" else f"{ROOM}/state", headers={"Host": "evil.example"}
    )
    assert r.status_code == 400, r.text
    assert r.json() == {
        "detail": "this service does not answer to the name 'evil.example'; if it should, add it to ARCROOM_ALLOWED_HOSTS"
    }
    assert (await c.get(f"{ROOM}/state")).json()["panic"]["active"] is False


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "127.0.0.2", "[::1]:8000", "kiosk.localhost"])
async def test_loopback_names_are_served_in_open_mode(service: Service, host: str) -> None:
    r = await service.client.get("/api/rooms", headers={"Host": host})
    assert r.status_code == 200, (host, r.text)


@pytest.mark.parametrize("host", ["", "evil.example:notaport", "[::1", "a/b"])
async def test_a_malformed_host_header_is_refused(service: Service, host: str) -> None:
    r = await service.client.get("/api/rooms", headers={"Host": host})
    assert r.status_code == 400, (host, r.text)


async def test_configured_names_and_origins_for_a_clinic_behind_a_proxy(proxied: Service) -> None:
    c = proxied.client
    for host in ("arcroom.clinic.example", "ward3.wards.example", "127.0.0.1:8000"):
        assert (await c.get("/api/rooms", headers={"Host": host})).status_code == 200, host
    for host in ("clinic.example", "evil.example", "wards.example.evil.example"):
        assert (await c.get("/api/rooms", headers={"Host": host})).status_code == 400, host
    # The proxy serves https under the same name: the browser's Origin matches the Host it sends.
    same = {"Host": "arcroom.clinic.example", "Origin": "https://arcroom.clinic.example"}
    r = await c.post(SESSION, json={"preset": "psilocybin"}, headers=same)
    assert r.status_code == 201, r.text
    # A portal under another name, allowed by ARCROOM_ALLOWED_ORIGINS; another one is not.
    allowed = {"Host": "arcroom.clinic.example", "Origin": "https://portal.clinic.example"}
    assert (await c.post(f"{SESSION}/dose", json={}, headers=allowed)).status_code == 200
    other = {"Host": "arcroom.clinic.example", "Origin": "https://other.clinic.example"}
    assert (await c.post(f"{SESSION}/advance", headers=other)).status_code == 403
    assert (await session(c))["phase"] == "onset"


async def test_with_tokens_any_name_is_served_and_origin_is_still_checked(
    settings: Settings, clock: ManualClock
) -> None:
    token = "tablet-Therapist-9xQ"
    secured = settings.model_copy(update={"tokens": [Token(name="tablet", role="therapist", token=SecretStr(token))]})
    async with serve_in_process(secured, clock) as svc:
        c, auth = svc.client, {"Authorization": f"Bearer {token}"}
        # A rebound page has no token, so a name check adds nothing: the tablet may use any name.
        r = await c.get("/api/rooms", headers={**auth, "Host": "arcroom-box.lan:8000"})
        assert r.status_code == 200, r.text
        r = await c.post(f"{ROOM}/panic", headers={**auth, "Origin": EVIL})
        assert r.status_code == 403, r.text


# --- the parts -----------------------------------------------------------------------------------


def test_host_headers_are_parsed_like_browsers_send_them() -> None:
    assert parse_host("Arcroom.Clinic.Example.:8443") == parse_host("arcroom.clinic.example:8443")
    parsed = parse_host("[::1]:8000")
    assert parsed is not None and (parsed.host, parsed.port) == ("::1", 8000)
    parsed = parse_host("[fe80::1]")
    assert parsed is not None and (parsed.host, parsed.port) == ("fe80::1", None)
    for bad in ("", ":80", "[::1", "[nothost]:80", "a:0", "a:70000", "a@b", "a b"):
        assert parse_host(bad) is None, bad


def test_host_patterns() -> None:
    patterns = HostPatterns(["arcroom.example", "*.wards.example"], loopback=True)
    assert patterns.allows("arcroom.example") and patterns.allows("a.b.wards.example")
    assert patterns.allows("127.8.9.10") and patterns.allows("::1") and patterns.allows("localhost")
    assert not patterns.allows("wards.example") and not patterns.allows("evilwards.example")
    assert not HostPatterns([], loopback=False).allows("localhost")


def test_origins_are_compared_in_one_form() -> None:
    assert normalise_origin("HTTPS://Arcroom.Example:443/") == "https://arcroom.example"
    assert normalise_origin("http://[::1]:8000") == "http://[::1]:8000"
    assert normalise_origin("null") == "null"


async def test_the_address_listened_on_is_always_served(settings: Settings, clock: ManualClock) -> None:
    token = "tablet-Therapist-9xQ"
    lan = settings.model_copy(
        update={
            "host": "192.0.2.10",  # documentation range: never bound here, only named
            "tokens": [Token(name="tablet", role="therapist", token=SecretStr(token))],
            "allowed_hosts": ("arcroom.clinic.example",),
        }
    )
    async with serve_in_process(lan, clock) as svc:
        for host, status in [("192.0.2.10:8000", 200), ("arcroom.clinic.example", 200), ("192.0.2.11:8000", 400)]:
            r = await svc.client.get("/api/health", headers={"Host": host})
            assert r.status_code == status, (host, r.text)


async def test_an_absurd_content_length_is_a_413_not_a_crash() -> None:
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the request reached the app")

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    guard = RequestGuard(app, HostPatterns([], loopback=True), max_body_bytes=1024)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/rooms/one/panic",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-length", b"9" * 5000)],
    }
    await guard(scope, receive, send)
    assert sent[0]["status"] == 413
