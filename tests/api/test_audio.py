"""The room's music over HTTP: pause, resume, skip, volume, the plan, and a restart mid-track."""

from __future__ import annotations

import asyncio
import itertools

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import Service, serve


async def playing(svc: Service, preset: str = "psilocybin") -> str:
    r = await svc.client.post("/api/rooms/one/session", json={"preset": preset})
    assert r.status_code == 201, r.text
    async with asyncio.timeout(5):
        while svc.runtime.rooms["one"].music.decks.status().state != "playing":
            await asyncio.sleep(0.01)
    return str(r.json()["session_id"])


async def test_pause_resume_skip_and_volume(settings: Settings, clock: ManualClock) -> None:
    async with serve(settings, clock) as svc:
        session = await playing(svc)
        c = svc.client
        r = await c.post("/api/rooms/one/audio", json={"action": "pause"})
        assert r.status_code == 200 and r.json()["state"] == "paused"
        assert (await c.post("/api/rooms/one/audio", json={"action": "pause"})).status_code == 409
        assert (await c.post("/api/rooms/one/audio", json={"action": "skip"})).status_code == 409
        await clock.advance(30)
        r = await c.post("/api/rooms/one/audio", json={"action": "resume"})
        assert r.status_code == 200 and r.json()["state"] == "playing"
        first = r.json()["now_playing"]["title"]
        r = await c.post("/api/rooms/one/audio", json={"action": "skip"})
        assert r.status_code == 200
        await clock.advance(10)  # the skipped track fades out over the crossfade
        state = (await c.get("/api/rooms/one/state")).json()["audio"]
        assert state["now_playing"]["title"] != first
        r = await c.post("/api/rooms/one/audio", json={"volume": 100})
        assert r.status_code == 200 and r.json()["volume_pct"] <= r.json()["ceiling_pct"] == 80
        events = (await c.get(f"/api/sessions/{session}/events")).json()
        assert [e["type"] for e in events][-4:] == ["audio_paused", "audio_resumed", "track_skipped", "volume_set"]
        assert events[-1]["data"] == {"volume_pct": 100, "by": "http:open"}  # as asked, and who asked


async def test_bad_audio_requests(settings: Settings, clock: ManualClock) -> None:
    async with serve(settings, clock) as svc:
        c = svc.client
        assert (await c.post("/api/rooms/one/audio", json={})).status_code == 422
        assert (await c.post("/api/rooms/one/audio", json={"volume": 150})).status_code == 422
        assert (await c.post("/api/rooms/one/audio", json={"action": "louder"})).status_code == 422
        assert (await c.post("/api/rooms/nowhere/audio", json={"action": "pause"})).status_code == 404
        r = await c.post("/api/rooms/one/audio", json={"action": "skip"})
        assert r.status_code == 409 and "start a session" in r.json()["detail"]
        await c.post("/api/rooms/one/panic")
        r = await c.post("/api/rooms/one/audio", json={"action": "resume"})
        assert r.status_code == 409 and "panic" in r.json()["detail"]


async def test_the_plan_covers_the_arc_and_follows_it(settings: Settings, clock: ManualClock) -> None:
    async with serve(settings, clock) as svc:
        await playing(svc)
        c = svc.client
        await c.post("/api/rooms/one/session/dose")
        await clock.advance(1)
        tracks = (await c.get("/api/rooms/one/plan")).json()["tracks"]
        assert tracks and {t["segment"] for t in tracks} >= {"onset", "ascent", "peak", "descent", "return", "closing"}
        for a, b in itertools.pairwise(tracks):
            assert b["start"] <= a["end"] + 0.001  # no dead air between tracks
        await c.post("/api/rooms/one/session/advance")
        await clock.advance(30)
        status = (await c.get("/api/rooms/one/state")).json()["audio"]
        assert status["now_playing"]["segment"] == "ascent"
        assert (await c.post("/api/rooms/one/session/start-again")).status_code in (404, 405)


async def test_a_restart_resumes_the_music_at_its_planned_position(settings: Settings, clock: ManualClock) -> None:
    async with serve(settings, clock) as first:
        await playing(first)
        await first.client.post("/api/rooms/one/session/dose")
        await clock.advance(20 * 60)
    await clock.advance(45)  # the service was down for 45 s
    async with serve(settings, clock) as second:
        async with asyncio.timeout(5):
            while second.runtime.rooms["one"].music.decks.status().state != "playing":
                await asyncio.sleep(0.01)
        plan = second.runtime.rooms["one"].music.plan
        assert plan is not None
        sounding = plan.at(clock.now())
        status = second.runtime.rooms["one"].music.decks.status()
        assert status.now_playing is not None and sounding
        latest = max(sounding, key=lambda t: t.start)
        assert status.now_playing.title == latest.title
        assert status.now_playing.position_s > 5  # not from the top
        assert abs(status.now_playing.position_s - (clock.now() - latest.start + latest.offset_s)) <= 1
