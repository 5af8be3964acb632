"""Data retention: a finished session's personal data is destroyed with its key; the log stays whole."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.cli import main
from app.domain.clock import ManualClock
from app.retention import DAY_S
from app.settings import Settings
from tests.conftest import serve_in_process

LABEL = "Jane-Q-Private"
NOTE = "Client spoke of her brother Tom"
INTENTION = "To forgive my father for the years in Leeds"


def database_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())


async def finished_session(settings: Settings, clock: ManualClock) -> str:
    async with serve_in_process(settings, clock) as svc:
        c = svc.client
        r = await c.post(
            "/api/rooms/one/session", json={"preset": "ketamine_im", "client_label": LABEL, "intention": INTENTION}
        )
        session = r.json()["session_id"]
        await c.post("/api/rooms/one/session/dose", json={"amount": 50})
        await c.post("/api/rooms/one/session/note", json={"text": NOTE})
        r = await c.post(
            "/api/rooms/one/session/readings", json={"readings": {"systolic_mmhg": 131, "diastolic_mmhg": 84}}
        )
        assert r.status_code == 200, r.text
        await clock.advance(3 * 3600)
        assert (await c.post("/api/rooms/one/session/end", json={})).status_code == 200
    return session


async def test_personal_data_is_never_in_the_file_in_the_clear(settings: Settings, clock: ManualClock) -> None:
    await finished_session(settings, clock)
    stored = database_bytes(settings.database)
    assert LABEL.encode() not in stored and NOTE.encode() not in stored and INTENTION.encode() not in stored


async def test_a_purge_destroys_what_the_events_said_and_keeps_the_log_whole(
    settings: Settings, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCROOM_DATABASE", str(settings.database))
    session = await finished_session(settings, clock)
    async with serve_in_process(settings, clock) as svc:
        before = (await svc.client.get(f"/api/sessions/{session}/events")).json()
        assert any(e["data"].get("text") == NOTE for e in before)
        assert before[0]["data"]["intention"] == INTENTION
    assert main(["purge", session]) == 0  # the CLI, on the same database
    async with serve_in_process(settings, clock) as svc:
        c = svc.client
        after = (await c.get(f"/api/sessions/{session}/events")).json()
        # Every event keeps its place, time and type; what it said is gone; the purge itself is readable.
        assert [(e["seq"], e["at"], e["type"]) for e in after[:-1]] == [(e["seq"], e["at"], e["type"]) for e in before]
        assert all(e["data"] == {} for e in after[:-1])
        assert after[-1]["type"] == "purged" and after[-1]["data"]["by"] == "arcroom purge"
        for fmt in ("json", "csv", "pdf"):
            r = await c.get(f"/api/sessions/{session}/report", params={"format": fmt})
            assert r.status_code == 200, (fmt, r.text[:300])
            assert LABEL.encode() not in r.content and NOTE.encode() not in r.content
            assert INTENTION.encode() not in r.content
    db = sqlite3.connect(settings.database)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM events WHERE session_id = ?", (session,))
    assert db.execute("SELECT count(*) FROM session_keys WHERE session_id = ?", (session,)).fetchone() == (0,)
    db.close()


async def test_a_running_session_cannot_be_purged(
    settings: Settings, clock: ManualClock, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCROOM_DATABASE", str(settings.database))
    async with serve_in_process(settings, clock) as svc:
        session = (await svc.client.post("/api/rooms/one/session", json={"preset": "lsd"})).json()["session_id"]
        assert main(["purge", session]) == 2
        assert "still running" in capsys.readouterr().err


async def test_the_service_purges_sessions_older_than_the_retention_period(
    settings: Settings, clock: ManualClock
) -> None:
    session = await finished_session(settings, clock)
    kept = settings.model_copy(update={"retention_days": 30})
    async with serve_in_process(kept, clock) as svc:
        await clock.advance(3600)
        events = (await svc.client.get(f"/api/sessions/{session}/events")).json()
        assert events[-1]["type"] != "purged"  # ended hours ago: kept
        await clock.advance(31 * DAY_S)
        for _ in range(100):
            events = (await svc.client.get(f"/api/sessions/{session}/events")).json()
            if events[-1]["type"] == "purged":
                break
            await clock.advance(60)
        assert events[-1]["type"] == "purged" and "30 days" in events[-1]["data"]["reason"]
