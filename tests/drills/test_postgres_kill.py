"""Drill: the service on PostgreSQL killed with SIGKILL while notes are being recorded, then started
again: every note it acknowledged is in the record, none twice, and the session carries on."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx

from tests.drills.service import ServiceProcess
from tests.support import CLIENT_LIMITS, Mosquitto, Postgres, unique


async def test_kill_9_on_postgresql_loses_no_acknowledged_event(
    tmp_path: Path, mosquitto: Mosquitto, demo_music: Path, postgres: Postgres
) -> None:
    service = ServiceProcess(
        tmp_path,
        {
            "ARCROOM_DATABASE": postgres.database(unique("drill").replace("-", "_")),
            "ARCROOM_MQTT_URL": mosquitto.url,
            "ARCROOM_DEMO_MUSIC_DIR": str(demo_music),
            "ARCROOM_MQTT_CLIENT_ID": unique("arcroom-drill"),
        },
    )
    service.start()
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=5, limits=CLIENT_LIMITS) as client:
            r = await client.post("/api/rooms/demo/session", json={"preset": "psilocybin"})
            assert r.status_code == 201, r.text
            session_id = r.json()["session_id"]
            assert (await client.post("/api/rooms/demo/session/dose", json={})).status_code == 200

            acknowledged: list[str] = []

            async def record_notes() -> None:
                for i in range(10_000):
                    try:
                        r = await client.post("/api/rooms/demo/session/note", json={"text": f"n{i}"})
                    except httpx.HTTPError:
                        return  # killed
                    if r.status_code == 200:
                        acknowledged.append(f"n{i}")

            writer = asyncio.create_task(record_notes())
            while len(acknowledged) < 40:
                await asyncio.sleep(0.01)
            service.kill9()
            await writer
        service.start()
        async with httpx.AsyncClient(base_url=service.url, timeout=5, limits=CLIENT_LIMITS) as client:
            events = (await client.get(f"/api/sessions/{session_id}/events")).json()
            notes = Counter(e["data"]["text"] for e in events if e["type"] == "note")
            assert set(acknowledged) <= set(notes), sorted(set(acknowledged) - set(notes))
            assert max(notes.values()) == 1  # none twice
            assert [e["seq"] for e in events] == list(range(len(events)))
            state = (await client.get("/api/rooms/demo/state")).json()["session"]
            assert state["session_id"] == session_id and state["status"] == "running"
    finally:
        service.stop()
