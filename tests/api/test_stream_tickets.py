"""Stream tickets: a token buys a ticket that opens event streams for a minute, and nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.api import tickets
from app.api.tickets import StreamTickets
from app.domain.clock import ManualClock
from app.settings import Settings, Token
from tests.conftest import Service, serve

THERAPIST = "tablet-Therapist-9xQ"
OBSERVER = "observer-Nurse-4kW7a"
DEVICE = "device-WallButton-3p"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Ticking:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def secured(settings: Settings, clock: ManualClock) -> AsyncIterator[Service]:
    tokens = [
        Token(name="tablet-room-1", role="therapist", token=SecretStr(THERAPIST)),
        Token(name="nurse-station", role="observer", token=SecretStr(OBSERVER)),
        Token(name="panic-button-1", role="device", token=SecretStr(DEVICE)),
    ]
    async with serve(settings.model_copy(update={"tokens": tokens}), clock) as svc:
        yield svc


async def stream_status(client: httpx.AsyncClient, url: str, **kwargs: Any) -> tuple[int, str]:
    async with asyncio.timeout(5), client.stream("GET", url, **kwargs) as r:
        if r.status_code != 200:
            return r.status_code, (await r.aread()).decode()
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                return 200, line
    raise AssertionError("the stream closed")


async def ticket_for(client: httpx.AsyncClient, token: str) -> str:
    r = await client.post("/api/stream-tickets", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["expires_in_s"] == tickets.TICKET_TTL_S
    return str(r.json()["ticket"])


async def test_a_ticket_opens_streams_for_a_minute_then_no_more(secured: Service) -> None:
    moved = Ticking()
    secured.app.state.stream_tickets = StreamTickets(now=moved)
    c = secured.client
    ticket = await ticket_for(c, OBSERVER)
    assert OBSERVER not in ticket and len(ticket) >= 32
    # Used twice (EventSource reconnects by itself with the same URL), in any room.
    assert await stream_status(c, f"/api/rooms/one/stream?ticket={ticket}") == (200, "event: state")
    assert await stream_status(c, f"/api/rooms/two/stream?ticket={ticket}") == (200, "event: state")
    moved.t += tickets.TICKET_TTL_S
    status, body = await stream_status(c, f"/api/rooms/one/stream?ticket={ticket}")
    assert (status, "a valid bearer token is required" in body) == (401, True)


async def test_tickets_carry_the_role_of_the_token_that_asked(secured: Service) -> None:
    c = secured.client
    for token in (THERAPIST, OBSERVER):
        assert await stream_status(c, f"/api/rooms/one/stream?ticket={await ticket_for(c, token)}") == (
            200,
            "event: state",
        )
    r = await c.post("/api/stream-tickets", headers=bearer(DEVICE))
    assert r.status_code == 403, r.text  # a panic button reads nothing, streams included
    r = await c.post("/api/stream-tickets")
    assert r.status_code == 401, r.text


async def test_a_ticket_is_no_token_anywhere_but_a_stream(secured: Service) -> None:
    c = secured.client
    ticket = await ticket_for(c, THERAPIST)
    for method, path in [("GET", "/api/rooms"), ("GET", "/api/rooms/one/state"), ("POST", "/api/rooms/one/panic")]:
        r = await c.request(method, f"{path}?ticket={ticket}")
        assert r.status_code == 401, (path, r.text)
        r = await c.request(method, path, headers=bearer(ticket))
        assert r.status_code == 401, (path, r.text)
    status, _ = await stream_status(c, "/api/rooms/one/stream?ticket=made-up-ticket-0123456789")
    assert status == 401


def test_tickets_are_forgotten_when_they_expire_and_bounded_in_number() -> None:
    moved = Ticking()
    store: StreamTickets[str] = StreamTickets(ttl_s=10, now=moved)
    first = store.issue("a")
    moved.t += 5
    second = store.issue("b")
    assert (store.holder(first), store.holder(second)) == ("a", "b")
    moved.t += 6
    store.issue("c")  # issuing forgets the expired ones
    assert store.holder(first) is None and store.holder(second) == "b" and len(store) == 2
    for i in range(tickets.MAX_TICKETS + 10):
        store.issue(str(i))
    assert len(store) == tickets.MAX_TICKETS
    assert store.holder(second) is None  # the oldest went first
