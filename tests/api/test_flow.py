"""The README's curl flow, over real HTTP: start, dose, advance, state, report."""

from __future__ import annotations

from tests.conftest import Service


async def test_start_dose_advance_state_report(service: Service) -> None:
    c = service.client
    r = await c.post("/api/rooms/one/session", json={"preset": "psilocybin", "client_label": "P-017"})
    assert r.status_code == 201, r.text
    session_id = r.json()["session_id"]
    assert r.json()["phase"] == "arrival"

    await service.clock.advance(15 * 60)
    r = await c.post("/api/rooms/one/session/dose", json={"amount": "25 mg"})
    assert r.status_code == 200, r.text
    assert r.json()["phase"] == "onset"

    await service.clock.advance(10 * 60)
    r = await c.post("/api/rooms/one/session/advance")
    assert r.json()["phase"] == "ascent"

    r = await c.get("/api/rooms/one/state")
    session = r.json()["session"]
    assert session["phase"] == "ascent"
    assert session["time_since_dose_s"] == 600
    planned = [p for p in session["phases"] if p["status"] == "upcoming"]
    assert planned[0]["name"] == "peak"

    r = await c.get(f"/api/sessions/{session_id}/report")
    assert r.status_code == 200
    report = r.json()
    assert [p["name"] for p in report["phases"]] == ["arrival", "onset", "ascent"]
    assert report["phases"][1]["duration_min"] == 10.0

    r = await c.get(f"/api/sessions/{session_id}/report", params={"format": "csv"})
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0].startswith("at,since_dose,kind,name,detail,by,")
    assert any(",dose_given," in line and ",0:00:00," in line for line in lines)
