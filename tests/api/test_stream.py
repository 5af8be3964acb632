"""The room's server-sent event stream, read with httpx from the real server and parsed by hand.

Every read is bounded, so a stream that stops sending fails the test instead of hanging it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import T0, Service

MIN = 60.0
READ_TIMEOUT_S = 5.0


@pytest.fixture
def service(live_service: Service) -> Service:
    """A stream needs a real server (the in-process transport buffers whole responses)."""
    return live_service


@dataclass
class SSE:
    event: str
    data: Any
    retry: int | None


class EventStream:
    """Parses text/event-stream lines into events (comments such as keep-alive pings are skipped)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self) -> SSE:
        async with asyncio.timeout(READ_TIMEOUT_S):
            event, data, retry = "message", [], None
            async for line in self._lines:
                if line == "":
                    if data:
                        return SSE(event, json.loads("\n".join(data)), retry)
                    event, retry = "message", None  # a block of comments only
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    event = value
                elif name == "data":
                    data.append(value)
                elif name == "retry":
                    retry = int(value)
            raise AssertionError("the stream ended")

    async def next_of(self, kind: str, *, skipping: tuple[str, ...] = ("state", "phase", "cue", "alert")) -> SSE:
        """The next event of `kind`, passing over events of the kinds in `skipping`."""
        while True:
            sse = await self.next()
            if sse.event == kind:
                return sse
            assert sse.event in skipping, f"unexpected {sse.event!r} event while waiting for {kind!r}: {sse.data}"


@asynccontextmanager
async def open_stream(client: httpx.AsyncClient, room: str = "one") -> AsyncIterator[EventStream]:
    async with asyncio.timeout(READ_TIMEOUT_S):
        cm = client.stream("GET", f"/api/rooms/{room}/stream")
        response = await cm.__aenter__()
    try:
        assert response.status_code == 200, await response.aread()
        yield EventStream(response)
    finally:
        async with asyncio.timeout(READ_TIMEOUT_S):
            await cm.__aexit__(None, None, None)


async def post(c: httpx.AsyncClient, path: str, body: dict[str, Any] | None = None, room: str = "one") -> Any:
    url = f"/api/rooms/{room}/session{path}"
    r = await (c.post(url, json=body) if body is not None else c.post(url))
    assert r.status_code in (200, 201), (path, r.text)
    return r.json()


# --- tests ---------------------------------------------------------------------------------------


async def test_stream_opens_with_the_room_state(service: Service) -> None:
    c = service.client
    async with open_stream(c) as stream:
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        assert stream.response.headers["cache-control"] == "no-cache"
        first = await stream.next()
    assert first.event == "state"
    assert first.retry == 2000
    assert first.data == (await c.get("/api/rooms/one/state")).json()
    assert (first.data["id"], first.data["session"]) == ("one", None)


async def test_stream_opens_with_the_running_session(service: Service) -> None:
    c = service.client
    started = await post(c, "", {"preset": "psilocybin", "client_label": "P-9"})
    async with open_stream(c) as stream:
        first = await stream.next()
    assert first.event == "state"
    assert first.data["session"]["session_id"] == started["session_id"]
    assert first.data["session"]["client_label"] == "P-9"


async def test_a_note_sends_a_new_state_with_one_more_event(service: Service) -> None:
    c = service.client
    await post(c, "", {"preset": "psilocybin"})
    async with open_stream(c) as stream:
        first = await stream.next()
        assert first.event == "state"
        count = first.data["session"]["event_count"]

        await post(c, "/note", {"text": "Client resting"})
        await state_with(stream, count + 1)
        await post(c, "/note", {"text": "Second note"})
        await state_with(stream, count + 2)


async def state_with(stream: EventStream, count: int) -> dict[str, Any]:
    """The first state whose session has `count` events: only states come before it, none with more.
    (The room's own music and lights may send states of their own as they settle.)"""
    while True:
        sse = await stream.next()
        assert sse.event == "state", sse
        assert sse.data["session"]["event_count"] <= count, sse.data["session"]
        if sse.data["session"]["event_count"] == count:
            return dict(sse.data)


async def test_every_command_sends_a_state(service: Service) -> None:
    c = service.client
    async with open_stream(c) as stream:
        assert (await stream.next()).data["session"] is None

        async def state_after(count: int) -> dict[str, Any]:
            """The first state that includes the command's event (a change may send more than one;
            before the session starts, the idle room's own start-up may send some with no session)."""
            while True:
                sse = await stream.next_of("state")
                session = sse.data["session"]
                if session is None:
                    assert count == 1, sse.data  # only before the session exists
                    continue
                assert session["event_count"] <= count, session
                if session["event_count"] == count:
                    return dict(session)

        await post(c, "", {"preset": "psilocybin"})
        assert (await state_after(1))["phase"] == "arrival"
        await post(c, "/hold")
        assert (await state_after(2))["status"] == "held"
        await post(c, "/resume")
        assert (await state_after(3))["status"] == "arrival"
        await post(c, "/dose", {})  # with the alert it raises: no facilitator signed in
        assert (await state_after(5))["phase"] == "onset"
        await post(c, "/extend", {"minutes": 5})
        assert (await state_after(6))["phase_remaining_s"] == 45 * MIN
        await post(c, "/advance")
        assert (await state_after(7))["phase"] == "ascent"
        await post(c, "/cues/baseline@0/ack", {"not_taken_reason": "client arrived late"})
        assert (await state_after(8))["due_cues"] == []

        await post(c, "/end", {"override_reason": "test"})
        while (sse := await stream.next_of("state")).data["session"] is not None:
            assert sse.data["session"]["event_count"] == 8
        assert sse.data["id"] == "one"  # the session ended and the room is free again


async def test_dose_sends_a_phase_event(service: Service) -> None:
    c = service.client
    await post(c, "", {"preset": "psilocybin"})
    async with open_stream(c) as stream:
        await stream.next()
        await post(c, "/dose", {"amount": "25 mg"})
        phase = await stream.next_of("phase", skipping=("state", "alert"))
        assert phase.data == {"phase": "onset", "scene": "onset", "music": "onset"}
        state = await stream.next()
        assert state.event == "state"
        assert state.data["session"]["phase"] == "onset"


async def test_advancing_the_clock_past_a_cue_sends_that_cue(service: Service) -> None:
    c = service.client
    await post(c, "", {"preset": "psilocybin"})
    dosed = await post(c, "/dose", {})
    cue = dosed["next_cue"]
    assert cue["id"] == "vitals@60"
    assert cue["due_at"] == T0 + 60 * MIN

    async with open_stream(c) as stream:
        first = await stream.next()
        assert first.data["session"]["next_cue"]["id"] == "vitals@60"

        await service.clock.advance_to(cue["due_at"] + 1)

        # On the way, onset gave way to ascent at 40 min.
        phase = await stream.next_of("phase", skipping=("state",))
        assert phase.data["phase"] == "ascent"
        sent = await stream.next_of("cue", skipping=("state",))
        assert sent.data["id"] == "vitals@60"
        assert sent.data["due_at"] == cue["due_at"]
        assert sent.data["label"] == "Vitals check (blood pressure, pulse)"
        assert sent.data["kind"] == "vitals"
        state = await stream.next()
        assert state.event == "state"
        assert [d["id"] for d in state.data["session"]["due_cues"]] == ["baseline@0", "vitals@60"]


async def test_a_cue_is_sent_once(service: Service) -> None:
    c = service.client
    await post(c, "", {"preset": "esketamine"})  # bp_pre_dose@0 is due at the start
    async with open_stream(c) as stream:
        await stream.next()
        await service.clock.advance(1)
        await post(c, "/note", {"text": "marker"})
        # The start-anchored cue was announced when the session started, before this stream opened:
        # up to the note's state, no event repeats the cue. (States of the room's own start-up may
        # come first: under load one did.)
        while True:
            sse = await stream.next()
            assert sse.event == "state", sse
            if sse.data["session"]["event_count"] == 2:
                break


async def test_stream_carries_only_its_own_room(service: Service) -> None:
    c = service.client
    await post(c, "", {"preset": "psilocybin"}, room="one")
    await post(c, "", {"preset": "mdma"}, room="two")
    async with open_stream(c, "one") as stream:
        await stream.next()
        await post(c, "/note", {"text": "room two"}, room="two")
        await post(c, "/dose", {}, room="two")
        await post(c, "/note", {"text": "room one"}, room="one")
        # Room two's changes were not sent: every update up to room one's note is room one's. (Room
        # one's own music or lights may still be settling from its start: under load that update
        # came between the first snapshot and the note.)
        while True:
            update = await stream.next()
            assert update.event == "state"
            assert update.data["id"] == "one"
            assert update.data["session"]["preset_id"] == "psilocybin"
            if update.data["session"]["event_count"] == 2:
                break


async def test_stream_for_an_unknown_room_is_404(service: Service) -> None:
    async with asyncio.timeout(READ_TIMEOUT_S):
        async with service.client.stream("GET", "/api/rooms/nowhere/stream") as r:
            await r.aread()
    assert r.status_code == 404
    assert r.json() == {"detail": "no room 'nowhere'"}
