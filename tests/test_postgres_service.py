"""The service with its record on a PostgreSQL server: a session kept across a restart, and the
server stopping mid-session (the room keeps going, panic works, what must be recorded is refused
with 503 and the reason, health says why, and all resumes when the server is back)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import store_postgres
from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import serve_in_process
from tests.support import WAIT_S, Postgres, unique

ROOM = "/api/rooms/one"


@pytest.fixture
def own_server() -> Iterator[Postgres]:
    """A server of this test's own, which it may stop."""
    workdir = Path(tempfile.mkdtemp(prefix="arcroom-pg-"))
    server = Postgres(workdir)
    server.start()
    yield server
    if (server.dir / "postmaster.pid").exists():  # still running
        server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


async def test_a_session_on_postgresql_is_carried_on_after_a_restart(
    settings: Settings, clock: ManualClock, postgres: Postgres
) -> None:
    on_server = settings.model_copy(update={"database": postgres.database(unique("svc").replace("-", "_"))})
    async with serve_in_process(on_server, clock) as svc:
        r = await svc.client.post(f"{ROOM}/session", json={"preset": "psilocybin", "client_label": "P-9"})
        assert r.status_code == 201, r.text
        session_id = r.json()["session_id"]
        assert (await svc.client.post(f"{ROOM}/session/dose", json={"amount": "25 mg"})).status_code == 200
        assert (await svc.client.post(f"{ROOM}/session/note", json={"text": "settled"})).status_code == 200
    async with serve_in_process(on_server, clock) as svc:
        state = (await svc.client.get(f"{ROOM}/state")).json()["session"]
        assert state["session_id"] == session_id and state["client_label"] == "P-9" and state["phase"] == "onset"
        types = [e["type"] for e in (await svc.client.get(f"/api/sessions/{session_id}/events")).json()]
        assert [t for t in types if t != "alert"] == ["started", "dose_given", "note"]


async def test_the_database_server_stopping_mid_session(
    settings: Settings, clock: ManualClock, own_server: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_postgres, "FAIL_FAST_S", 0.2)
    on_server = settings.model_copy(update={"database": own_server.database("arcroom")})
    async with serve_in_process(on_server, clock) as svc:
        c = svc.client
        r = await c.post(f"{ROOM}/session", json={"preset": "psilocybin"})
        session_id = r.json()["session_id"]
        assert (await c.post(f"{ROOM}/session/dose", json={})).status_code == 200

        own_server.stop("immediate")
        r = await c.post(f"{ROOM}/session/note", json={"text": "during the outage"})
        assert r.status_code == 503 and "cannot be reached" in r.json()["detail"], r.text
        health = (await c.get("/api/health")).json()
        assert health["status"] == "degraded"
        assert any("the record's database" in p and "cannot be reached" in p for p in health["problems"])
        # Panic needs no database: the room goes bright and quiet, and says what it could not record.
        r = await c.post(f"{ROOM}/panic")
        assert r.status_code == 200, r.text
        assert r.json()["audio"]["status"] == "paused"
        assert any(e.startswith("record:") for e in r.json()["errors"])
        assert (await c.get(f"{ROOM}/state")).json()["panic"]["active"] is True

        own_server.start()
        async with asyncio.timeout(WAIT_S):
            while (await c.get("/api/health")).json()["problems"]:
                await asyncio.sleep(0.1)
        assert (await c.post(f"{ROOM}/session/note", json={"text": "after"})).status_code == 200
        events = (await c.get(f"/api/sessions/{session_id}/events")).json()
        assert [e["data"].get("text") for e in events if e["type"] == "note"] == ["after"]  # nothing half-written
