"""Stop the service mid-session, start a new one on the same SQLite file: it carries on."""

from __future__ import annotations

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import serve


async def test_new_service_on_same_database_continues_at_the_right_phase(
    settings: Settings, clock: ManualClock
) -> None:
    async with serve(settings, clock) as first:
        r = await first.client.post("/api/rooms/one/session", json={"preset": "lsd"})
        session_id = r.json()["session_id"]
        await first.client.post("/api/rooms/one/session/dose")
        await clock.advance(3600)
        before = (await first.client.get("/api/rooms/one/state")).json()["session"]
        assert before["phase"] == "ascent"  # LSD preset: ascent 0:45-1:30, peak 1:30-5:00

    await clock.advance(3600)  # an hour without the service
    async with serve(settings, clock) as second:
        after = (await second.client.get("/api/rooms/one/state")).json()["session"]
        assert after["session_id"] == session_id
        assert after["time_since_dose_s"] == 2 * 3600
        assert after["phase"] == "peak"
        assert after["time_in_phase_s"] == 30 * 60
        events = (await second.client.get(f"/api/sessions/{session_id}/events")).json()
        assert [e["type"] for e in events] == ["started", "dose_given", "alert"]  # a restart writes nothing
        r = await second.client.post("/api/rooms/one/session/advance")
        assert r.status_code == 200 and r.json()["phase"] == "plateau"
