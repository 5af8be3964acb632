"""The read endpoints and every session command over real HTTP, with their effect on the arc,
the event log and the report."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.clock import ManualClock
from app.health_probe import degraded_because
from app.settings import Settings
from tests.conftest import T0, Service, free_port, serve

MIN = 60.0
VITALS = {"systolic_mmhg": 122, "diastolic_mmhg": 78, "heart_rate_bpm": 70}
ROOM = "/api/rooms/one"
SESSION = f"{ROOM}/session"


# --- helpers -------------------------------------------------------------------------------------


async def start(c: httpx.AsyncClient, preset: str = "psilocybin", label: str | None = None) -> dict[str, Any]:
    r = await c.post(SESSION, json={"preset": preset, "client_label": label})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def command(c: httpx.AsyncClient, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    r = await (c.post(f"{SESSION}{path}", json=body) if body is not None else c.post(f"{SESSION}{path}"))
    assert r.status_code == 200, (path, r.text)
    return dict(r.json())


async def session(c: httpx.AsyncClient) -> dict[str, Any]:
    r = await c.get(f"{ROOM}/state")
    assert r.status_code == 200, r.text
    return dict(r.json()["session"])


async def events(c: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    r = await c.get(f"/api/sessions/{session_id}/events")
    assert r.status_code == 200, r.text
    return list(r.json())


async def report(c: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    r = await c.get(f"/api/sessions/{session_id}/report")
    assert r.status_code == 200, r.text
    return dict(r.json())


def spans(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in state["phases"]}


# --- health and catalogue ------------------------------------------------------------------------


async def test_health_reports_ok_with_the_broker_connected(service: Service) -> None:
    async with asyncio.timeout(10):
        while not (r := await service.client.get("/api/health")).json()["mqtt"]["connected"]:
            await asyncio.sleep(0.05)
    assert r.status_code == 200
    health = r.json()
    assert health["status"] == "ok" and health["problems"] == []
    assert health["rooms"] == 2
    assert health["failed_tasks"] == {}
    assert health["mqtt"]["embedded"] is False
    assert health["mqtt"]["last_error"] is None
    assert health["mqtt"]["broker"] == service.runtime.settings.mqtt_url


async def test_health_reports_degraded_when_the_broker_is_unreachable(settings: Settings, clock: ManualClock) -> None:
    unreachable = settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{free_port()}"})
    async with serve(unreachable, clock) as svc:
        async with asyncio.timeout(10):
            while (r := await svc.client.get("/api/health")).json()["mqtt"]["last_error"] is None:
                await asyncio.sleep(0.05)
        assert r.status_code == 200
        assert r.json()["status"] == "degraded"
        assert r.json()["mqtt"]["connected"] is False
        assert r.json()["problems"][0].startswith(f"the broker {unreachable.mqtt_url} is unavailable (")
        # The rest of the service still works without the broker.
        r = await svc.client.post(SESSION, json={"preset": "psilocybin"})
        assert r.status_code == 201, r.text


async def test_a_misspelt_music_library_is_a_named_problem_and_the_room_still_works(
    settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    missing = tmp_path / "Musik"  # the clinic's folder is "music"
    async with serve(settings.model_copy(update={"music_library": missing}), clock) as svc:
        health = (await svc.client.get("/api/health")).json()
        assert health["status"] == "degraded"
        assert (
            f"the music library {missing} (ARCROOM_MUSIC_LIBRARY) is not a folder on this machine" in health["problems"]
        )
        r = await svc.client.post("/api/rooms/one/panic")
        assert r.status_code == 200, r.text


def test_arcroom_health_reads_the_problems_of_a_degraded_answer() -> None:
    assert degraded_because(json.dumps({"status": "ok", "problems": []})) == []
    assert degraded_because(json.dumps({"status": "degraded", "problems": ["the broker is away"]})) == [
        "the broker is away"
    ]
    assert degraded_because("<html>") == ["not a health answer: '<html>'"]


async def test_presets_list(service: Service) -> None:
    r = await service.client.get("/api/presets")
    assert r.status_code == 200, r.text
    presets = {p["id"]: p for p in r.json()}
    assert set(presets) == {
        "esketamine",
        "ketamine_im",
        "ketamine_iv",
        "ketamine_sublingual",
        "lsd",
        "mdma",
        "psilocybin",
    }
    psilocybin = presets["psilocybin"]
    assert psilocybin["phases"] == ["arrival", "onset", "ascent", "peak", "descent", "return", "closing"]
    assert psilocybin["nominal_arc_min"] == 40 + 35 + 150 + 105 + 90
    assert psilocybin["min_observation_min"] == 60  # Oregon's table raises it by the dose
    assert psilocybin["booster"] is False
    assert presets["mdma"]["booster"] is True
    assert presets["mdma"]["substance"] == "MDMA"


async def test_preset_detail(service: Service) -> None:
    r = await service.client.get("/api/presets/mdma")
    assert r.status_code == 200, r.text
    mdma = r.json()
    assert mdma["id"] == "mdma"
    assert mdma["min_observation_min"] == 480
    assert mdma["booster"]["extends_phase"] == "plateau"
    assert mdma["booster"]["extend_min"] == 60
    assert next(p["name"] for p in mdma["phases"]) == "arrival"
    assert {c["id"] for c in mdma["cues"]} >= {"vitals", "booster_offer"}


async def test_rooms_list_and_detail(service: Service) -> None:
    c = service.client
    r = await c.get("/api/rooms")
    assert r.status_code == 200, r.text
    assert [(room["id"], room["name"], room["session"]) for room in r.json()] == [
        ("one", "Room one", None),
        ("two", "Room two", None),
    ]

    await start(c, label="P-017")
    r = await c.get(ROOM)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "one"
    assert r.json()["name"] == "Room one"
    assert r.json()["session"]["client_label"] == "P-017"
    assert r.json() == (await c.get(f"{ROOM}/state")).json()
    assert (await c.get("/api/rooms/two")).json()["session"] is None


# --- start, dose, advance ------------------------------------------------------------------------


async def test_start_session_returns_201_with_its_state(service: Service) -> None:
    c = service.client
    r = await c.post(SESSION, json={"preset": "lsd", "client_label": "AB"})
    assert r.status_code == 201, r.text
    state = r.json()
    assert r.headers["location"] == f"/api/sessions/{state['session_id']}/events"
    assert state["room"] == "one"
    assert state["preset_id"] == "lsd"
    assert state["client_label"] == "AB"
    assert (state["status"], state["phase"], state["phase_index"]) == ("arrival", "arrival", 0)
    assert state["started_at"] == T0
    assert state["dose_at"] is None
    assert state["phase_remaining_s"] is None
    assert state["event_count"] == 1
    assert [e["type"] for e in await events(c, state["session_id"])] == ["started"]


async def test_dose_starts_the_timed_arc_and_records_the_amount(service: Service) -> None:
    c = service.client
    sid = (await start(c))["session_id"]
    await service.clock.advance(15 * MIN)
    state = await command(c, "/dose", {"amount": "25 mg"})
    assert (state["status"], state["phase"]) == ("running", "onset")
    assert state["dose_at"] == T0 + 15 * MIN
    assert state["phase_remaining_s"] == 40 * MIN
    assert state["min_observation_until"] == T0 + 15 * MIN + 300 * MIN  # Oregon: 25 mg, 5 h
    assert state["can_end_without_override"] is False
    dose = next(e for e in await events(c, sid) if e["type"] == "dose_given")
    assert (dose["data"], dose["at"]) == ({"amount": 25, "unit": "mg", "by": "http:open"}, T0 + 15 * MIN)


async def test_dose_without_a_body_is_accepted(service: Service) -> None:
    c = service.client
    sid = (await start(c))["session_id"]
    r = await c.post(f"{SESSION}/dose")
    assert r.status_code == 200, r.text
    assert r.json()["phase"] == "onset"
    assert (await events(c, sid))[1] == {"seq": 1, "at": T0, "type": "dose_given", "data": {"by": "http:open"}}


async def test_phases_follow_each_other_on_time(service: Service) -> None:
    c = service.client
    await start(c)
    await command(c, "/dose", {})
    await service.clock.advance(40 * MIN - 1)
    assert (await session(c))["phase"] == "onset"
    await service.clock.advance(1)
    state = await session(c)
    assert state["phase"] == "ascent"
    assert state["phase_started_at"] == T0 + 40 * MIN
    await service.clock.advance(7 * 60 * MIN)
    assert (await session(c))["phase"] == "closing"


async def test_advance_ends_the_current_phase_now(service: Service) -> None:
    c = service.client
    sid = (await start(c))["session_id"]
    await command(c, "/dose", {})
    await service.clock.advance(10 * MIN)
    state = await command(c, "/advance")
    assert state["phase"] == "ascent"
    assert state["phase_started_at"] == T0 + 10 * MIN
    assert state["time_in_phase_s"] == 0
    assert spans(state)["peak"]["start"] == T0 + 10 * MIN + 35 * MIN
    assert (await events(c, sid))[-1]["data"] == {"from": "onset", "by": "http:open"}


async def test_an_advance_is_undone_within_two_minutes_and_the_room_goes_back_with_it(service: Service) -> None:
    c = service.client
    sid = (await start(c))["session_id"]
    await command(c, "/dose", {})
    await command(c, "/advance")  # onset -> ascent at once; ascent shares onset's scene, peak has its own
    await service.clock.advance(10 * MIN)
    before = (await c.get(f"{ROOM}/state")).json()
    advanced = await command(c, "/advance")
    assert (advanced["phase"], advanced["advance_undo_until"]) == ("peak", T0 + 12 * MIN)
    assert (await c.get(f"{ROOM}/state")).json()["lighting"]["scene"] == advanced["scene"] != before["session"]["scene"]
    await service.clock.advance(90)
    state = await command(c, "/advance/undo")
    # The arc is where it would be had the phase never been left; the lights follow the phase.
    assert (state["phase"], state["phase_started_at"]) == ("ascent", T0)
    assert state["time_in_phase_s"] == 11.5 * MIN and state["advance_undo_until"] is None
    assert spans(state)["peak"]["start"] == spans(before["session"])["peak"]["start"]
    assert (await c.get(f"{ROOM}/state")).json()["lighting"]["scene"] == before["session"]["scene"]
    log = await events(c, sid)
    assert [e["type"] for e in log[-2:]] == ["phase_advanced", "phase_advance_undone"]
    assert log[-1]["data"] == {"phase": "peak", "by": "http:open"}
    # Nothing left to undo; and an advance is not undone after two minutes.
    r = await c.post(f"{SESSION}/advance/undo")
    assert r.status_code == 409 and "nothing to undo" in r.json()["detail"]
    await command(c, "/advance")
    await service.clock.advance(2 * MIN + 1)
    r = await c.post(f"{SESSION}/advance/undo")
    assert r.status_code == 409 and "for 2 minutes" in r.json()["detail"]


# --- extend --------------------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [12.5, 1, 240])
async def test_extend_moves_later_phases_by_exactly_the_minutes(service: Service, minutes: float) -> None:
    c = service.client
    sid = (await start(c))["session_id"]
    await command(c, "/dose", {})
    await service.clock.advance(10 * MIN)
    before = await session(c)
    after = await command(c, "/extend", {"minutes": minutes})

    shift = minutes * MIN
    assert after["phase"] == "onset"
    assert after["phase_remaining_s"] == before["phase_remaining_s"] + shift
    b, a = spans(before), spans(after)
    assert a["onset"]["end"] == b["onset"]["end"] + shift
    assert a["onset"]["duration_s"] == 40 * MIN + shift
    assert a["onset"]["extended_s"] == shift
    for name in ("ascent", "peak", "descent", "return", "closing"):
        assert a[name]["status"] == "upcoming"
        assert a[name]["start"] == b[name]["start"] + shift, name
        assert a[name]["duration_s"] == b[name]["duration_s"], name
        assert a[name]["extended_s"] == 0, name
    # Only the arc moves: the dose-anchored observation time does not.
    assert after["min_observation_until"] == before["min_observation_until"]
    assert (await events(c, sid))[-1]["data"] == {"phase": "onset", "minutes": minutes, "by": "http:open"}

    # The phase change happens at the new time.
    await service.clock.advance_to(b["ascent"]["start"] + shift - 1)
    assert (await session(c))["phase"] == "onset"
    await service.clock.advance(1)
    assert (await session(c))["phase"] == "ascent"


async def test_report_shows_the_extension(service: Service) -> None:
    c = service.client
    sid = (await start(c))["session_id"]
    await command(c, "/dose", {})
    await command(c, "/extend", {"minutes": 20})
    await service.clock.advance(60 * MIN)
    phases = (await report(c, sid))["phases"]
    assert [(p["name"], p["duration_min"], p["extended_min"]) for p in phases[:2]] == [
        ("arrival", 0.0, 0.0),
        ("onset", 60.0, 20.0),
    ]
    assert phases[2]["name"] == "ascent"


# --- hold and resume -----------------------------------------------------------------------------


async def test_hold_freezes_the_arc_and_resume_continues_it(service: Service) -> None:
    c = service.client
    sid = (await start(c))["session_id"]
    await command(c, "/dose", {})
    await service.clock.advance(10 * MIN)

    held = await command(c, "/hold")
    assert (held["status"], held["held"], held["phase"]) == ("held", True, "onset")
    assert held["time_in_phase_s"] == 10 * MIN
    assert held["phase_remaining_s"] == 30 * MIN

    # 30 min on hold: past onset's planned end, but the phase does not move and its clock stops.
    await service.clock.advance(30 * MIN)
    state = await session(c)
    assert (state["status"], state["phase"]) == ("held", "onset")
    assert state["time_in_phase_s"] == 10 * MIN
    assert state["phase_remaining_s"] == 30 * MIN
    # Pharmacology does not pause.
    assert state["time_since_dose_s"] == 40 * MIN

    resumed = await command(c, "/resume")
    assert (resumed["status"], resumed["held"], resumed["phase"]) == ("running", False, "onset")
    assert resumed["time_in_phase_s"] == 10 * MIN
    assert spans(resumed)["ascent"]["start"] == T0 + 70 * MIN

    await service.clock.advance(29 * MIN)
    state = await session(c)
    assert state["phase"] == "onset"
    assert state["time_in_phase_s"] == 39 * MIN
    await service.clock.advance(1 * MIN)
    state = await session(c)
    assert state["phase"] == "ascent"
    assert state["phase_started_at"] == T0 + 70 * MIN

    assert [e["type"] for e in await events(c, sid)] == ["started", "dose_given", "alert", "hold", "resume"]
    onset = (await report(c, sid))["phases"][1]
    assert (onset["name"], onset["duration_min"]) == ("onset", 70.0)


async def test_hold_then_extend_and_advance_still_work(service: Service) -> None:
    c = service.client
    await start(c)
    await command(c, "/dose", {})
    await command(c, "/hold")
    state = await command(c, "/extend", {"minutes": 5})
    assert state["phase_remaining_s"] == 45 * MIN
    assert state["held"] is True
    state = await command(c, "/advance")
    assert (state["phase"], state["held"]) == ("ascent", True)
    await service.clock.advance(60 * MIN)
    assert (await session(c))["phase"] == "ascent"


# --- booster -------------------------------------------------------------------------------------


async def test_booster_lengthens_the_plateau_by_the_presets_extend_min(service: Service) -> None:
    c = service.client
    booster = (await c.get("/api/presets/mdma")).json()["booster"]
    sid = (await start(c, "mdma"))["session_id"]
    await command(c, "/dose", {"amount": "120 mg"})
    await service.clock.advance(booster["offer_from_min"] * MIN)
    before = await session(c)
    assert before["phase"] == "peak"

    after = await command(c, "/dose", {"booster": True, "amount": "60 mg"})
    shift = booster["extend_min"] * MIN
    assert after["phase"] == "peak"
    assert after["boosters_at"] == [T0 + booster["offer_from_min"] * MIN]
    assert after["dose_at"] == before["dose_at"]
    b, a = spans(before), spans(after)
    assert a["peak"]["end"] == b["peak"]["end"]
    assert a["plateau"]["start"] == b["plateau"]["start"]
    assert a["plateau"]["duration_s"] == b["plateau"]["duration_s"] + shift
    assert a["plateau"]["extended_s"] == shift
    for name in ("descent", "return", "closing"):
        assert a[name]["start"] == b[name]["start"] + shift, name
    assert (await events(c, sid))[-1]["type"] == "booster_given"
    assert (await events(c, sid))[-1]["data"] == {"amount": 60, "unit": "mg", "by": "http:open"}

    r = await report(c, sid)
    assert r["boosters_at"] == ["2027-01-15T09:30:00+00:00"]


# --- notes and cues ------------------------------------------------------------------------------


async def test_note_is_recorded_and_reported(service: Service) -> None:
    c = service.client
    sid = (await start(c))["session_id"]
    await service.clock.advance(5 * MIN)
    state = await command(c, "/note", {"text": "Client asked for a blanket"})
    assert state["event_count"] == 2
    last = (await events(c, sid))[-1]
    assert (last["type"], last["data"], last["at"]) == (
        "note",
        {"text": "Client asked for a blanket", "by": "http:open"},
        T0 + 5 * MIN,
    )
    assert (await report(c, sid))["notes"] == [
        {"at": "2027-01-15T08:05:00+00:00", "text": "Client asked for a blanket"}
    ]


async def test_acknowledging_a_due_cue_clears_it(service: Service) -> None:
    c = service.client
    sid = (await start(c))["session_id"]
    await command(c, "/dose", {})
    assert (await session(c))["next_cue"]["id"] == "vitals@60"
    await service.clock.advance(60 * MIN)
    state = await session(c)
    assert [cue["id"] for cue in state["due_cues"]] == ["baseline@0", "vitals@60"]

    state = await command(c, "/cues/vitals@60/ack", {"readings": VITALS})
    assert [cue["id"] for cue in state["due_cues"]] == ["baseline@0"]
    assert state["next_cue"]["id"] == "check_in_peak@0"
    reading, last = (await events(c, sid))[-2:]
    assert (last["type"], last["data"]) == ("cue_acknowledged", {"cue_id": "vitals@60", "by": "http:open"})
    assert (reading["type"], reading["data"]["values"]) == ("reading", VITALS)
    r = await report(c, sid)
    assert (r["cues_due"], r["cues_acknowledged"]) == (2, 1)
    assert [(cue["id"], cue["status"]) for cue in r["cues"]] == [("baseline@0", "due"), ("vitals@60", "on_time")]


async def test_an_upcoming_cue_cannot_be_acknowledged_ahead_of_time(service: Service) -> None:
    c = service.client
    await start(c)
    await command(c, "/dose", {})
    r = await c.post(f"{SESSION}/cues/vitals@60/ack", json={"readings": VITALS})
    assert r.status_code == 409
    assert r.json()["detail"].startswith("cue 'vitals@60' is not due until 2027-01-15T09:00:00+00:00 (in 60 min)")
    await service.clock.advance(60 * MIN)
    assert [cue["id"] for cue in (await session(c))["due_cues"]] == ["baseline@0", "vitals@60"]


# --- end -----------------------------------------------------------------------------------------


async def test_end_after_minimum_observation_needs_no_reason(service: Service) -> None:
    c = service.client
    sid = (await start(c, label="P-2"))["session_id"]
    await command(c, "/dose", {})
    await service.clock.advance(360 * MIN)
    assert (await session(c))["can_end_without_override"] is True
    state = await command(c, "/end")
    assert (state["status"], state["ended_at"]) == ("ended", T0 + 360 * MIN)
    # The alert: no facilitator signed in when the dose was given (the preset asks for two).
    assert [e["type"] for e in await events(c, sid)] == ["started", "dose_given", "alert", "ended"]

    r = await report(c, sid)
    assert r["min_observation_met"] is True
    assert r["ended_early_reason"] is None
    assert r["ended_at"] == "2027-01-15T14:00:00+00:00"
    assert r["client_label"] == "P-2"

    # The room is free again, and the ended session's record is kept.
    assert (await c.get(f"{ROOM}/state")).json()["session"] is None
    second = await start(c, "mdma")
    assert second["session_id"] != sid
    assert (await report(c, sid))["session_id"] == sid


async def test_end_early_with_override_records_override_then_ended(service: Service) -> None:
    c = service.client
    sid = (await start(c))["session_id"]
    await command(c, "/dose", {})
    await service.clock.advance(120 * MIN)
    state = await command(c, "/end", {"override_reason": "Client transferred to hospital"})
    assert state["status"] == "ended"

    log = await events(c, sid)
    assert [e["type"] for e in log] == ["started", "dose_given", "alert", "override", "ended"]
    override, ended = log[3], log[4]
    assert override["data"] == {
        "rule": "min_observation",
        "reason": "Client transferred to hospital",
        "min_observation_until": T0 + 360 * MIN,
        "by": "http:open",
    }
    assert override["at"] == ended["at"] == T0 + 120 * MIN
    assert [e["seq"] for e in log] == [0, 1, 2, 3, 4]

    r = await report(c, sid)
    assert r["ended_early_reason"] == "Client transferred to hospital"
    assert r["min_observation_met"] is False
    assert r["min_observation_min"] == 360

    csv = (await c.get(f"/api/sessions/{sid}/report", params={"format": "csv"})).text.splitlines()
    assert any(",override," in line and "Client transferred to hospital" in line for line in csv)
    assert csv[-1].split(",")[2] == "ended"


async def test_override_reason_after_minimum_observation_is_not_an_override(service: Service) -> None:
    c = service.client
    sid = (await start(c))["session_id"]
    await command(c, "/dose", {})
    await service.clock.advance(400 * MIN)
    await command(c, "/end", {"override_reason": "not needed"})
    assert [e["type"] for e in await events(c, sid)] == ["started", "dose_given", "alert", "ended"]
    r = await report(c, sid)
    assert (r["min_observation_met"], r["ended_early_reason"]) == (True, None)


async def test_a_session_can_end_in_arrival_without_a_dose(service: Service) -> None:
    c = service.client
    sid = (await start(c))["session_id"]
    state = await command(c, "/end", {})
    assert state["status"] == "ended"
    r = await report(c, sid)
    assert (r["dose_at"], r["min_observation_met"], r["ended_early_reason"]) == (None, None, None)


async def test_report_csv_is_a_download(service: Service) -> None:
    c = service.client
    sid = (await start(c))["session_id"]
    await command(c, "/dose", {"amount": "25 mg"})
    r = await c.get(f"/api/sessions/{sid}/report", params={"format": "csv"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == f'attachment; filename="session-{sid}.csv"'
    lines = r.text.strip().splitlines()
    assert lines[0].startswith("at,since_dose,kind,name,detail,by,systolic_mmhg,diastolic_mmhg,")
    assert any(line.startswith("2027-01-15T08:00:00+00:00,0:00:00,dose_given,,25 mg,http:open,") for line in lines)


async def test_rooms_are_independent(service: Service) -> None:
    c = service.client
    one = await start(c)
    r = await c.post("/api/rooms/two/session", json={"preset": "mdma"})
    assert r.status_code == 201, r.text
    await command(c, "/dose", {})
    two = (await c.get("/api/rooms/two/state")).json()["session"]
    assert (two["preset_id"], two["phase"], two["event_count"]) == ("mdma", "arrival", 1)
    assert (await session(c))["session_id"] == one["session_id"]


async def test_a_sessions_record_answers_to_the_short_id_its_files_are_named_by(service: Service) -> None:
    r = await service.client.post(SESSION, json={"preset": "psilocybin"})
    session_id = r.json()["session_id"]
    full = await service.client.get(f"/api/sessions/{session_id}/events")
    short = await service.client.get(f"/api/sessions/{session_id[:8]}/events")
    assert short.status_code == 200 and short.json() == full.json()
    report = await service.client.get(f"/api/sessions/{session_id[:8]}/report")
    assert report.json()["session_id"] == session_id
    assert (await service.client.get(f"/api/sessions/{session_id[:4]}/events")).status_code == 404
