"""The README's curl flow: start, a facilitator, the baseline check, dose, a reading, advance, state,
the report in JSON, CSV and PDF, end."""

from __future__ import annotations

from tests.conftest import Service

S = "/api/rooms/one/session"


async def test_start_dose_advance_state_report(service: Service) -> None:
    c = service.client
    r = await c.post(S, json={"preset": "psilocybin", "client_label": "P-017"})
    assert r.status_code == 201, r.text
    session_id = r.json()["session_id"]
    assert r.json()["phase"] == "arrival"
    assert (await c.post(f"{S}/facilitators", json={"name": "A. Rivera"})).status_code == 200
    r = await c.post(
        f"{S}/cues/baseline@0/ack",
        json={"readings": {"systolic_mmhg": 124, "diastolic_mmhg": 80, "heart_rate_bpm": 68}},
    )
    assert r.status_code == 200, r.text

    await service.clock.advance(15 * 60)
    r = await c.post(f"{S}/dose", json={"amount": 25, "unit": "mg"})
    assert r.status_code == 200, r.text
    assert r.json()["phase"] == "onset"
    # Psilocybin asks for two facilitators: one present at the dose is an alert.
    assert [a["kind"] for a in r.json()["alerts"]] == ["facilitators"]
    r = await c.post(f"{S}/readings", json={"readings": {"heart_rate_bpm": 92, "note": "anxious"}})
    assert r.status_code == 200, r.text

    await service.clock.advance(10 * 60)
    r = await c.post(f"{S}/advance")
    assert r.json()["phase"] == "ascent"

    r = await c.get("/api/rooms/one/state")
    session = r.json()["session"]
    assert session["phase"] == "ascent"
    assert session["time_since_dose_s"] == 600
    assert [f["name"] for f in session["facilitators"]] == ["A. Rivera"]
    planned = [p for p in session["phases"] if p["status"] == "upcoming"]
    assert planned[0]["name"] == "peak"

    r = await c.get(f"/api/sessions/{session_id}/report")
    assert r.status_code == 200
    report = r.json()
    assert [p["name"] for p in report["phases"]] == ["arrival", "onset", "ascent"]
    assert report["phases"][1]["duration_min"] == 10.0
    assert [r["values"].get("heart_rate_bpm") for r in report["readings"]] == [68, 92]

    r = await c.get(f"/api/sessions/{session_id}/report", params={"format": "csv"})
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0].startswith("at,since_dose,kind,name,detail,by,")
    assert any(",dose_given," in line and ",0:00:00," in line for line in lines)

    r = await c.get(f"/api/sessions/{session_id}/report", params={"format": "pdf"})
    assert r.status_code == 200 and r.content.startswith(b"%PDF")

    r = await c.post(f"{S}/end", json={"override_reason": "demo only"})
    assert r.json()["status"] == "ended"
