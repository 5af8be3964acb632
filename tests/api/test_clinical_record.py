"""The clinical record through the API: readings, alerts, cue rules, devices, who did what, and the report
in every format (JSON, CSV, PDF rendered to PNG, the REMS form's fields), on a real SQLite file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import T0, Service, serve

ROOM = "/api/rooms/one"
SESSION = f"{ROOM}/session"
MIN = 60.0
BP_OK = {"systolic_mmhg": 128, "diastolic_mmhg": 82}
BASELINE = {**BP_OK, "heart_rate_bpm": 72, "spo2_pct": 98}
CALM = {"sedation": False, "dissociation": True, "respiratory_depression": False, "spo2_pct": 97}


async def post(c: httpx.AsyncClient, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return await c.post(f"{SESSION}{path}", json=body)


async def ok(c: httpx.AsyncClient, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    r = await post(c, path, body)
    assert r.status_code == 200, (path, r.text)
    return dict(r.json())


async def start(c: httpx.AsyncClient, preset: str, label: str = "P-042") -> str:
    r = await c.post(SESSION, json={"preset": preset, "client_label": label})
    assert r.status_code == 201, r.text
    return str(r.json()["session_id"])


async def events(c: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    return list((await c.get(f"/api/sessions/{sid}/events")).json())


async def test_impossible_values_are_422_naming_the_field_and_record_nothing(service: Service) -> None:
    c = service.client
    sid = await start(c, "esketamine")
    cases = [
        ({"systolic_mmhg": 400, "diastolic_mmhg": 80}, ["body", "readings", "systolic_mmhg"], "400 mmHg"),
        ({"heart_rate_bpm": 0}, ["body", "readings", "heart_rate_bpm"], "not a possible heart rate"),
        ({"spo2_pct": 101}, ["body", "readings", "spo2_pct"], "not a possible spo2"),
        ({"temperature_c": 51}, ["body", "readings", "temperature_c"], "not a possible temperature"),
        ({"fluid": "water", "fluid_ml": 9000}, ["body", "readings", "fluid_ml"], "9000 ml"),
        ({"systolic_mmhg": "high"}, ["body", "readings", "systolic_mmhg"], "valid number"),
        ({"systolic_mmhg": 90, "diastolic_mmhg": 95}, ["body", "readings"], "diastolic_mmhg (95) must be below"),
        ({"pulse": 70}, ["body", "readings", "pulse"], "Extra inputs"),
    ]
    for readings, loc, words in cases:
        r = await post(c, "/readings", {"readings": readings})
        assert r.status_code == 422, r.text
        errors = r.json()["detail"]
        assert any(e["loc"] == loc and words in e["msg"] for e in errors), (readings, errors)
    # A check's missing reading is a 422 too, naming the field, unless the reason is given.
    r = await post(c, "/cues/bp_pre_dose@0/ack", {"readings": BP_OK})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("readings.heart_rate_bpm: the vitals check asks for heart rate")
    assert [e["type"] for e in await events(c, sid)] == ["started"]


async def test_readings_round_trip_into_json_csv_and_pdf(service: Service, tmp_path: Path) -> None:
    c = service.client
    sid = await start(c, "esketamine", "P-RT-7")
    await ok(c, "/facilitators", {"name": "Dr. Okafor"})
    await ok(c, "/cues/bp_pre_dose@0/ack", {"readings": {**BASELINE, "note": "calm, rested"}})
    await service.clock.advance(2 * MIN)
    state = await ok(c, "/dose", {"amount": 56, "lot": "LOT-5521"})
    assert state["latest"]["systolic_mmhg"]["values"]["systolic_mmhg"] == 128
    await service.clock.advance(7 * MIN)
    await ok(c, "/readings", {"readings": {"heart_rate_bpm": 88, "note": "nauseous"}})

    events_ = await events(c, sid)
    readings = [e for e in events_ if e["type"] == "reading"]
    assert [r["data"]["cue_id"] for r in readings] == ["bp_pre_dose@0", None]
    assert readings[0]["data"]["values"] == {**BASELINE, "note": "calm, rested"}
    assert readings[0]["data"]["by"] == "http:open"

    report = (await c.get(f"/api/sessions/{sid}/report")).json()
    assert [r["values"] for r in report["readings"]] == [
        {**BASELINE, "note": "calm, rested"},
        {"heart_rate_bpm": 88, "note": "nauseous"},
    ]
    assert report["facilitators"][0]["name"] == "Dr. Okafor"
    assert report["doses"][0] | {"at": None} == {
        "at": None,
        "since_dose": "0:00:00",
        "booster": False,
        "amount": 56.0,
        "unit": "mg",
        "lot": "LOT-5521",
        "devices": 2,
        "by": "http:open",
    }

    text = (await c.get(f"/api/sessions/{sid}/report", params={"format": "csv"})).text
    rows = list(csv.DictReader(io.StringIO(text)))
    reading_rows = [r for r in rows if r["kind"] == "reading"]
    assert [(r["systolic_mmhg"], r["diastolic_mmhg"], r["heart_rate_bpm"], r["spo2_pct"]) for r in reading_rows] == [
        ("128", "82", "72", "98"),
        ("", "", "88", ""),
    ]
    assert all(r["by"] == "http:open" for r in rows if r["kind"] not in ("phase",))

    r = await c.get(f"/api/sessions/{sid}/report", params={"format": "pdf"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(r.content)
    words = pdf_text(pdf)
    for expected in (
        "P-RT-7",
        "128/82",
        "HR 72 bpm",
        "SpO2 98",
        "calm, rested",
        "HR 88 bpm",
        "nauseous",
        "LOT-5521",
        "Dr. Okafor",
        "http:open",
    ):
        assert expected in words, expected
    assert_rendered_not_blank(pdf, tmp_path)


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def assert_rendered_not_blank(pdf: Path, tmp_path: Path) -> None:
    """Poppler renders the first page; a blank page would be one colour."""
    assert shutil.which("pdftoppm"), "poppler-utils (pdftoppm) is a test package: ./dev setup test installs it"
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True)
    page = next(tmp_path.glob("page*.png"))
    from PIL import Image

    with Image.open(page) as image:
        grey = image.convert("L")
        width, height = grey.size
        assert (width, height) == (331, 468), "A4 at 40 dpi"  # 210 x 297 mm
        histogram = grey.histogram()
        dark = sum(histogram[:128])
        # Text, tables and the chart: a few thousandths of the page is ink at this resolution; blank is 0.
        assert dark > 0.002 * width * height, f"only {dark} dark pixels: the page looks blank"


async def test_out_of_range_reading_raises_an_alert_event_stream_message_and_mqtt_message(
    live_service: Service, tmp_path: Path
) -> None:
    svc, c = live_service, live_service.client
    rt = svc.runtime
    address = rt.link.address
    seen: list[Any] = []
    with rt.changes.subscribe() as changes:
        sid = await start(c, "esketamine")
        async with c.stream("GET", f"{ROOM}/stream") as stream:
            lines = stream.aiter_lines()
            r = await post(c, "/cues/bp_pre_dose@0/ack", {"readings": {**BASELINE, "systolic_mmhg": 152}})
            assert r.status_code == 200, r.text
            alert = r.json()["alerts"][0]
            assert alert["kind"] == "threshold" and alert["field"] == "systolic_mmhg" and alert["value"] == 152
            assert "140/90 before dosing" in alert["message"]
            # The stream: an "alert" event with the alert.
            async with asyncio.timeout(5):
                event = None
                async for line in lines:
                    if line == "event: alert":
                        event = "alert"
                    elif event == "alert" and line.startswith("data: "):
                        streamed = json.loads(line[6:])
                        break
            assert streamed["id"] == alert["id"] and streamed["value"] == 152
        while not changes.empty():
            seen.append(changes.get_nowait())
    # The room publishes it as a RoomChange of kind "alert": the MQTT bridge forwards that kind.
    published = [ch for ch in seen if ch.kind == "alert"]
    assert [ch.detail["id"] for ch in published] == [alert["id"]]
    # And the state on the broker (arcroom/one/state) carries the open alert.
    assert await retained_state_has_alert(address, alert["id"])

    log = await events(c, sid)
    assert [e["type"] for e in log[1:]] == ["reading", "cue_acknowledged", "alert"]
    # Acknowledged by a facilitator who is signed in (409 for one who is not).
    r = await post(c, f"/alerts/{alert['id']}/ack", {"facilitator": "N. Lee"})
    assert r.status_code == 409 and "not signed in" in r.json()["detail"]
    await ok(c, "/facilitators", {"name": "N. Lee"})
    state = await ok(c, f"/alerts/{alert['id']}/ack", {"facilitator": "N. Lee"})
    assert state["alerts"] == []
    report = (await c.get(f"/api/sessions/{sid}/report")).json()
    assert report["alerts"][0]["acknowledged_by"] == "N. Lee"


async def retained_state_has_alert(address: Any, alert_id: str) -> bool:
    """Read arcroom/one/state from the broker with a client of our own."""
    import aiomqtt

    async with asyncio.timeout(5), aiomqtt.Client(address.host, address.port) as client:
        await client.subscribe("arcroom/one/state")
        async for message in client.messages:
            payload = json.loads(bytes(message.payload))  # type: ignore[arg-type]
            session = payload.get("session") or {}
            if any(a["id"] == alert_id for a in session.get("alerts", [])):
                return True
    return False


async def test_early_ack_is_409_saying_when_and_records_nothing(service: Service) -> None:
    c = service.client
    sid = await start(c, "mdma")
    await ok(c, "/dose", {"amount": 120})
    await service.clock.advance(20 * MIN)
    r = await post(c, "/cues/vitals@30/ack", {"readings": {**BP_OK, "heart_rate_bpm": 80, "temperature_c": 37}})
    assert r.status_code == 409
    assert r.json()["detail"].startswith("cue 'vitals@30' is not due until 2027-01-15T08:30:00+00:00 (in 10 min)")
    before = len(await events(c, sid))
    await service.clock.advance(10 * MIN)
    await ok(c, "/cues/vitals@30/ack", {"readings": {**BP_OK, "heart_rate_bpm": 80, "temperature_c": 37}})
    assert len(await events(c, sid)) == before + 2  # the reading, then the acknowledgement


async def test_every_preset_prompts_a_baseline_check_at_session_start(service: Service) -> None:
    c = service.client
    for preset in (await c.get("/api/presets")).json():
        r = await c.post("/api/rooms/two/session", json={"preset": preset["id"]})
        assert r.status_code == 201
        due = r.json()["due_cues"]
        assert due and due[0]["due_at"] == T0 and due[0]["kind"] == "vitals", (preset["id"], due)
        assert (await c.post("/api/rooms/two/session/end")).status_code == 200


async def test_booster_outside_its_window_is_409_and_with_override_it_is_recorded(service: Service) -> None:
    c = service.client
    sid = await start(c, "mdma")
    await ok(c, "/dose", {"amount": 120})
    await service.clock.advance(150 * MIN)
    r = await post(c, "/dose", {"booster": True, "amount": 60})
    assert r.status_code == 409 and "the booster window is 90-120 min" in r.json()["detail"]
    state = await ok(c, "/dose", {"booster": True, "amount": 60, "override_reason": "client asleep at 2 h"})
    assert state["boosters_at"] == [T0 + 150 * MIN]
    override, booster = (await events(c, sid))[-2:]
    assert override["type"] == "override"
    assert override["data"] | {"at_min": 150} == {
        "rule": "booster_window",
        "reason": "client asleep at 2 h",
        "window": "90-120 min after the first dose",
        "at_min": 150,
        "by": "http:open",
    }
    assert booster["type"] == "booster_given" and booster["data"]["amount"] == 60
    # The extension is the preset's, with its source: about 1 hour, not 90 minutes.
    mdma = (await c.get("/api/presets/mdma")).json()["booster"]
    assert mdma["extend_min"] == 60 and "4.6 to 5.6 h" in mdma["extend_source"]
    plateau = next(p for p in state["phases"] if p["name"] == "plateau")
    assert plateau["extended_s"] == 60 * MIN


async def test_mdma_fluids_are_recorded_and_warn_at_the_cap(service: Service) -> None:
    c = service.client
    await start(c, "mdma")
    await ok(c, "/dose", {"amount": 120})
    state = await ok(c, "/cues/fluids@0/ack", {"readings": {"fluid": "electrolyte drink", "fluid_ml": 1500}})
    state = await ok(c, "/readings", {"readings": {"fluid": "electrolyte drink", "fluid_ml": 1000}, "kind": "fluids"})
    assert (state["fluids_ml"], [a for a in state["alerts"] if a["kind"] == "fluids"]) == (2500, [])
    state = await ok(c, "/readings", {"readings": {"fluid": "water", "fluid_ml": 600}, "kind": "fluids"})
    assert state["fluids_ml"] == 3100
    [alert] = [a for a in state["alerts"] if a["kind"] == "fluids"]
    assert alert["kind"] == "fluids" and "3100 ml has reached the cap of 3000 ml" in alert["message"]


async def test_esketamine_84_mg_is_three_device_events_and_the_clock_runs_from_the_first(service: Service) -> None:
    c = service.client
    sid = await start(c, "esketamine")
    await ok(c, "/facilitators", {"name": "Dr. Okafor"})
    await ok(c, "/cues/bp_pre_dose@0/ack", {"readings": BASELINE})
    r = await post(c, "/dose", {"amount": 70})
    assert (
        r.status_code == 422
        and r.json()["detail"] == "amount: give the dose in mg as whole devices of 28 mg: 28, 56, 84"
    )
    await service.clock.advance(3 * MIN)
    first = T0 + 3 * MIN
    state = await ok(c, "/dose", {"amount": "84 mg", "lot": "A12"})
    assert (state["dose_at"], state["devices_planned"], state["devices_given"]) == (first, 3, [first])
    assert state["min_observation_until"] == first + 120 * MIN
    # Device 2 falls due 5 min after the first, and cannot be recorded before.
    r = await post(c, "/cues/device@5/ack")
    assert r.status_code == 409 and "is not due until" in r.json()["detail"]
    await service.clock.advance(5 * MIN)
    assert [cue["label"] for cue in (await c.get(f"{ROOM}/state")).json()["session"]["due_cues"]] == [
        "Device 2 of 3 (28 mg)"
    ]
    await ok(c, "/cues/device@5/ack")
    await service.clock.advance(6 * MIN)
    state = await ok(c, "/cues/device@10/ack")
    assert state["devices_given"] == [first, first + 5 * MIN, first + 11 * MIN]
    assert state["dose_at"] == first and state["min_observation_until"] == first + 120 * MIN
    devices = [e for e in await events(c, sid) if e["type"] == "device_given"]
    assert [(e["data"]["device"], e["data"]["of"], e["at"]) for e in devices] == [
        (1, 3, first),
        (2, 3, first + 5 * MIN),
        (3, 3, first + 11 * MIN),
    ]


async def test_each_device_falls_due_5_min_after_the_one_before_and_in_order(service: Service) -> None:
    c = service.client
    sid = await start(c, "esketamine")
    await ok(c, "/cues/bp_pre_dose@0/ack", {"readings": BASELINE})
    first = service.clock.now()
    await ok(c, "/dose", {"amount": 84})
    # Device 3 before device 2: refused, saying which comes first, and nothing is recorded.
    await service.clock.advance(10 * MIN)
    r = await post(c, "/cues/device@10/ack")
    assert r.status_code == 409, r.text
    assert r.json()["detail"].startswith("device 2 of 3 (device@5) comes first")
    # Device 2 given late, at 12 min: device 3 is due 5 min after it, at 17, not at 10.
    await service.clock.advance(2 * MIN)
    state = await ok(c, "/cues/device@5/ack")
    assert state["next_cue"]["id"] == "device@10" and state["next_cue"]["due_at"] == first + 17 * MIN
    await service.clock.advance(3 * MIN)
    r = await post(c, "/cues/device@10/ack")
    assert r.status_code == 409 and "is not due until" in r.json()["detail"]
    await service.clock.advance(2 * MIN)
    state = await ok(c, "/cues/device@10/ack")
    assert state["devices_given"] == [first, first + 12 * MIN, first + 17 * MIN]
    devices = [e["data"]["device"] for e in await events(c, sid) if e["type"] == "device_given"]
    assert devices == [1, 2, 3]


async def test_a_whole_esketamine_session_fills_the_rems_form(service: Service) -> None:
    c = service.client
    sid = await start(c, "esketamine", "P-REMS-3")
    first = await esketamine_session(service)
    form = (await c.get(f"/api/sessions/{sid}/report", params={"format": "rems"})).json()
    assert form["missing"] == []
    assert form["dose_administered"] == "56 mg" and form["lot_number"] == "L-778"
    assert form["bp_before_administration"]["value"] == "128/82"
    assert (form["bp_40_min"]["value"], form["bp_40_min"]["min_after_first_device"]) == ("138/88", 40.0)
    assert form["bp_before_completion"]["value"] == "124/80"
    assert (form["sedation"], form["dissociation"], form["respiratory_depression"]) == (False, True, False)
    assert form["lowest_spo2_pct"] == 96
    assert form["ready_to_leave_min"] == 100.0
    assert form["treatment_duration_min"] == 125.0
    assert form["vitals_acceptable_before_administration"] is True
    assert form["vitals_acceptable_before_completion"] is True
    assert form["monitored_by"] == ["Dr. Okafor"]
    assert form["treatment_date"] == "2027-01-15" and form["due_by"] == "2027-01-22T08:02:00+00:00"

    # Pending on the overview, with days left of 7, until marked filed.
    await service.clock.advance(2 * 86400)
    pending = (await c.get("/api/sessions", params={"rems": "pending"})).json()
    assert [(s["session_id"], s["rems"]["days_left"]) for s in pending] == [(sid, 5)]
    r = await c.post(f"/api/sessions/{sid}/rems/filed", json={"reference": "REMS-0001"})
    assert r.status_code == 200 and r.json()["filed_at"] is not None
    assert (await c.get("/api/sessions", params={"rems": "pending"})).json() == []
    r = await c.post(f"/api/sessions/{sid}/rems/filed", json={})
    assert r.status_code == 409 and "already marked filed" in r.json()["detail"]
    assert first == T0 + 2 * MIN


async def test_rems_date_and_report_times_are_the_clinics_time_zone(
    settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    # T0 is 08:00 UTC on 15 January: 23:00 the evening before in Anchorage, the clinic's own date.
    async with serve(settings.model_copy(update={"timezone": "America/Anchorage"}), clock) as service:
        c = service.client
        sid = await start(c, "esketamine", "P-AK")
        await ok(c, "/cues/bp_pre_dose@0/ack", {"readings": BASELINE})
        await ok(c, "/dose", {"amount": 56})
        form = (await c.get(f"/api/sessions/{sid}/report", params={"format": "rems"})).json()
        assert (form["treatment_date"], form["timezone"]) == ("2027-01-14", "America/Anchorage")
        assert form["due_by"] == "2027-01-21T23:00:00-09:00"
        report = (await c.get(f"/api/sessions/{sid}/report")).json()
        assert (report["timezone"], report["dose_at"]) == ("America/Anchorage", "2027-01-14T23:00:00-09:00")
        [pending] = (await c.get("/api/sessions", params={"rems": "pending"})).json()
        assert pending["started_at"] == "2027-01-14T23:00:00-09:00"
        assert pending["rems"]["treatment_date"] == "2027-01-14"
        pdf = tmp_path / "r.pdf"
        pdf.write_bytes((await c.get(f"/api/sessions/{sid}/report", params={"format": "pdf"})).content)
        words = " ".join(pdf_text(pdf).split())
        assert "Started 2027-01-14 23:00:00" in words and "Times in America/Anchorage." in words
        assert "UTC" not in words


async def test_an_unfiled_rems_form_stays_listed_until_filed_and_no_dose_means_no_form(service: Service) -> None:
    c, clock = service.client, service.clock
    undosed = await start(c, "esketamine", "P-NODOSE")
    await ok(c, "/end", {"override_reason": "blood pressure too high to dose"})
    owed = await start(c, "esketamine", "P-OWED")
    await ok(c, "/cues/bp_pre_dose@0/ack", {"readings": BASELINE})
    await ok(c, "/dose", {"amount": 56})
    await clock.advance(120 * MIN)
    await ok(c, "/end")
    running = await start(c, "esketamine", "P-ARRIVING")  # not dosed yet: nothing owed yet either

    def listed(pending: list[dict[str, Any]]) -> list[tuple[str, int]]:
        return [(s["session_id"], s["rems"]["days_left"]) for s in pending]

    assert listed((await c.get("/api/sessions", params={"rems": "pending"})).json()) == [(owed, 7)]
    await ok(c, "/end", {"override_reason": "client left before the dose"})
    # Long overdue, past the 30 days the overview once looked back: still owed, still listed, whatever `days` says.
    await clock.advance(45 * 86400)
    pending = (await c.get("/api/sessions", params={"rems": "pending", "days": 1})).json()
    assert listed(pending) == [(owed, -38)]
    assert undosed not in {s["session_id"] for s in pending} and running not in {s["session_id"] for s in pending}
    assert (await c.post(f"/api/sessions/{owed}/rems/filed", json={})).status_code == 200
    assert (await c.get("/api/sessions", params={"rems": "pending"})).json() == []


async def esketamine_session(service: Service) -> float:
    """Everything the REMS form asks for, at the times the label gives (the session already started)."""
    c, clock = service.client, service.clock
    await ok(c, "/facilitators", {"name": "Dr. Okafor"})
    await ok(c, "/cues/bp_pre_dose@0/ack", {"readings": BASELINE})
    await clock.advance(2 * MIN)
    first = clock.now()
    await ok(c, "/dose", {"amount": 56, "lot": "L-778"})
    await clock.advance(5 * MIN)
    await ok(c, "/cues/device@5/ack")
    await clock.advance(15 * MIN)  # 20 min
    await ok(c, "/cues/monitoring@20/ack", {"readings": CALM})
    await clock.advance(20 * MIN)  # 40 min
    await ok(c, "/cues/bp_peak@40/ack", {"readings": {"systolic_mmhg": 138, "diastolic_mmhg": 88}})
    await ok(c, "/cues/monitoring@40/ack", {"readings": {**CALM, "spo2_pct": 96}})
    for at in (60, 80, 100, 120):
        await clock.advance_to(first + at * MIN)
        await ok(c, f"/cues/monitoring@{at}/ack", {"readings": {**CALM, "dissociation": at < 80}})
        if at == 100:
            await ok(c, "/ready-to-leave")
    await ok(c, "/cues/check_in_descent@60/ack", {"readings": {"note": "talking, oriented"}})
    await ok(c, "/cues/bp_discharge@120/ack", {"readings": {"systolic_mmhg": 124, "diastolic_mmhg": 80}})
    await clock.advance(5 * MIN)
    await ok(c, "/end")
    return first


async def test_bp_until_settled_repeats_only_while_the_last_reading_is_high(service: Service) -> None:
    c = service.client
    await start(c, "esketamine")
    await ok(c, "/cues/bp_pre_dose@0/ack", {"readings": BASELINE})
    await ok(c, "/dose", {"amount": 56})
    await service.clock.advance(120 * MIN)
    await ok(c, "/cues/bp_discharge@120/ack", {"readings": {"systolic_mmhg": 150, "diastolic_mmhg": 92}})
    state = (await c.get(f"{ROOM}/state")).json()["session"]
    assert state["next_cue"]["id"] == "bp_until_settled@135"
    await service.clock.advance(15 * MIN)
    await ok(c, "/cues/bp_until_settled@135/ack", {"readings": {"systolic_mmhg": 132, "diastolic_mmhg": 84}})
    state = (await c.get(f"{ROOM}/state")).json()["session"]
    assert not any(cue.get("rule_id") == "bp_until_settled" for cue in [state["next_cue"] or {}, *state["due_cues"]])


async def test_rems_vitals_at_completion_are_acceptable_only_once_settled_by_the_presets_rule(service: Service) -> None:
    c, clock = service.client, service.clock
    sid = await start(c, "esketamine")
    await ok(c, "/cues/bp_pre_dose@0/ack", {"readings": BASELINE})
    await ok(c, "/dose", {"amount": 56})
    form = (await c.get(f"/api/sessions/{sid}/report", params={"format": "rems"})).json()
    # Nothing after the dose yet: the form cannot say, and says so.
    assert form["vitals_acceptable_before_completion"] is None
    assert "vitals_acceptable_before_completion" in form["missing"]
    await clock.advance(120 * MIN)
    # 150/95 raises no after-dose alert (180/110), but the until-settled cue still asks again.
    state = await ok(c, "/cues/bp_discharge@120/ack", {"readings": {"systolic_mmhg": 150, "diastolic_mmhg": 95}})
    assert not [a for a in state["alerts"] if a["kind"] == "threshold"]
    assert state["next_cue"]["id"] == "bp_until_settled@135"
    await ok(c, "/end")
    form = (await c.get(f"/api/sessions/{sid}/report", params={"format": "rems"})).json()
    assert form["bp_before_completion"]["value"] == "150/95"
    assert form["vitals_acceptable_before_completion"] is False
    assert "vitals_acceptable_before_completion" not in form["missing"]

    sid = await start(c, "esketamine")
    await ok(c, "/cues/bp_pre_dose@0/ack", {"readings": BASELINE})
    await ok(c, "/dose", {"amount": 56})
    await clock.advance(120 * MIN)
    await ok(c, "/cues/bp_discharge@120/ack", {"readings": {"systolic_mmhg": 150, "diastolic_mmhg": 95}})
    await clock.advance(15 * MIN)
    state = await ok(c, "/cues/bp_until_settled@135/ack", {"readings": {"systolic_mmhg": 136, "diastolic_mmhg": 86}})
    assert not any(cue["rule_id"] == "bp_until_settled" for cue in [state["next_cue"] or {"rule_id": ""}])
    await ok(c, "/end")
    form = (await c.get(f"/api/sessions/{sid}/report", params={"format": "rems"})).json()
    assert (form["bp_before_completion"]["value"], form["vitals_acceptable_before_completion"]) == ("136/86", True)


async def test_one_facilitator_in_an_mdma_session_raises_an_alert(service: Service) -> None:
    c = service.client
    sid = await start(c, "mdma")
    await ok(c, "/facilitators", {"name": "A. Rivera"})
    await ok(c, "/facilitators", {"name": "B. Chen"})
    state = await ok(c, "/dose", {"amount": 120})
    assert state["alerts"] == [] and [f["name"] for f in state["facilitators"]] == ["A. Rivera", "B. Chen"]
    await service.clock.advance(30 * MIN)
    r = await c.delete(f"{SESSION}/facilitators/B. Chen")
    assert r.status_code == 200, r.text
    [alert] = r.json()["alerts"]
    assert alert["kind"] == "facilitators" and alert["message"].startswith("1 of 2 facilitators present")
    report = (await c.get(f"/api/sessions/{sid}/report")).json()
    assert [(f["name"], f["signed_out"]) for f in report["facilitators"]] == [
        ("A. Rivera", None),
        ("B. Chen", "2027-01-15T08:30:00+00:00"),
    ]
    # A second sign-out of someone not there is a 404 that records nothing.
    assert (await c.delete(f"{SESSION}/facilitators/B. Chen")).status_code == 404


async def test_oregon_minimum_session_length_follows_the_psilocybin_dose(service: Service) -> None:
    c = service.client
    for amount, minutes in [(4, 60), (10, 240), (25, 300), (40, 360), (None, 360)]:
        await start(c, "psilocybin")
        state = await ok(c, "/dose", {} if amount is None else {"amount": amount})
        assert state["min_observation_until"] - state["dose_at"] == minutes * MIN, amount
        assert "OAR 333-333-5250" in state["min_observation_basis"]
        assert (await post(c, "/end", {"override_reason": "test"})).status_code == 200


async def test_the_rems_export_is_only_for_spravato_sessions(service: Service) -> None:
    c = service.client
    sid = await start(c, "mdma")
    r = await c.get(f"/api/sessions/{sid}/report", params={"format": "rems"})
    assert r.status_code == 409 and "no REMS form" in r.json()["detail"]


@pytest.mark.parametrize("preset", ["mdma", "esketamine"])
async def test_the_pdf_of_a_long_session_stays_short(service: Service, preset: str, tmp_path: Path) -> None:
    c = service.client
    sid = await start(c, preset)
    if preset == "esketamine":
        await esketamine_session(service)
    else:
        await ok(c, "/dose", {"amount": 120})
        for at in range(30, 8 * 60 + 1, 30):
            await service.clock.advance_to(T0 + at * MIN)
            await ok(c, f"/cues/vitals@{at}/ack", {"readings": {**BP_OK, "heart_rate_bpm": 90, "temperature_c": 37.2}})
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes((await c.get(f"/api/sessions/{sid}/report", params={"format": "pdf"})).content)
    assert pdf_pages(pdf) <= 2


def pdf_pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
