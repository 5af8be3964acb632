"""Error responses over real HTTP: 404 for unknown things, 409 for conflicting actions, 422 for bad
bodies with field-level messages, and never a 500 for bad input. A refused command records nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Service

ROOM = "/api/rooms/one"
SESSION = f"{ROOM}/session"


# --- helpers -------------------------------------------------------------------------------------


async def start(c: httpx.AsyncClient, preset: str = "psilocybin", room: str = "one") -> str:
    r = await c.post(f"/api/rooms/{room}/session", json={"preset": preset})
    assert r.status_code == 201, r.text
    return str(r.json()["session_id"])


async def post(c: httpx.AsyncClient, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return await c.post(f"{SESSION}{path}", json=body) if body is not None else await c.post(f"{SESSION}{path}")


async def event_count(c: httpx.AsyncClient) -> int:
    r = await c.get(f"{ROOM}/state")
    assert r.status_code == 200, r.text
    return int(r.json()["session"]["event_count"])


def field_error(response: httpx.Response, *loc: str | int) -> dict[str, Any]:
    """The 422 detail entry for the field at `loc`; fails if the response names no such field."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail, detail
    for error in detail:
        if tuple(error["loc"]) == loc:
            return dict(error)
    raise AssertionError(f"no error for field {loc}; got {detail}")


# --- 404: unknown room, preset, session, cue ------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/rooms/nowhere"),
        ("GET", "/api/rooms/nowhere/state"),
        ("GET", "/api/rooms/nowhere/stream"),
        ("POST", "/api/rooms/nowhere/session/dose"),
        ("POST", "/api/rooms/nowhere/session/advance"),
        ("POST", "/api/rooms/nowhere/session/hold"),
        ("POST", "/api/rooms/nowhere/session/resume"),
        ("POST", "/api/rooms/nowhere/session/end"),
        ("POST", "/api/rooms/nowhere/session/cues/vitals@60/ack"),
    ],
)
async def test_unknown_room_is_404_naming_the_room(service: Service, method: str, path: str) -> None:
    r = await service.client.request(method, path)
    assert r.status_code == 404, r.text
    assert r.json() == {"detail": "no room 'nowhere'"}


async def test_starting_a_session_in_an_unknown_room_is_404(service: Service) -> None:
    r = await service.client.post("/api/rooms/nowhere/session", json={"preset": "psilocybin"})
    assert r.status_code == 404, r.text
    assert r.json() == {"detail": "no room 'nowhere'"}


async def test_commands_with_bodies_in_an_unknown_room_are_404(service: Service) -> None:
    c = service.client
    for path, body in [("/note", {"text": "hello"}), ("/extend", {"minutes": 10})]:
        r = await c.post(f"/api/rooms/nowhere/session{path}", json=body)
        assert r.status_code == 404, (path, r.text)
        assert r.json() == {"detail": "no room 'nowhere'"}


async def test_unknown_preset_is_404(service: Service) -> None:
    r = await service.client.get("/api/presets/ayahuasca")
    assert r.status_code == 404, r.text
    assert r.json() == {"detail": "no preset 'ayahuasca'"}


async def test_starting_with_an_unknown_preset_is_404_and_leaves_the_room_free(service: Service) -> None:
    c = service.client
    r = await c.post(SESSION, json={"preset": "ayahuasca"})
    assert r.status_code == 404, r.text
    assert r.json() == {"detail": "no preset 'ayahuasca'"}
    r = await c.get(f"{ROOM}/state")
    assert r.json()["session"] is None
    await start(c)  # the failed attempt did not occupy the room


@pytest.mark.parametrize(
    "path",
    [
        "/api/sessions/0123456789abcdef/events",
        "/api/sessions/0123456789abcdef/report",
        "/api/sessions/0123456789abcdef/report?format=csv",
    ],
)
async def test_unknown_session_is_404(service: Service, path: str) -> None:
    r = await service.client.get(path)
    assert r.status_code == 404, r.text
    assert r.json() == {"detail": "no session '0123456789abcdef'"}


async def test_acknowledging_an_unknown_cue_is_404_and_records_nothing(service: Service) -> None:
    c = service.client
    await start(c)
    await post(c, "/dose", {})
    before = await event_count(c)
    r = await post(c, "/cues/vitals@61/ack")
    assert r.status_code == 404, r.text
    assert r.json() == {"detail": "no cue 'vitals@61' in this session"}
    assert await event_count(c) == before


# --- 409: conflicting actions --------------------------------------------------------------------


async def test_a_second_session_in_a_room_is_409(service: Service) -> None:
    c = service.client
    first = await start(c)
    r = await c.post(SESSION, json={"preset": "mdma"})
    assert r.status_code == 409, r.text
    assert r.json()["detail"] == f"room 'one' already has a session running ({first})"
    # The running session is untouched, and the other room is still free.
    r = await c.get(f"{ROOM}/state")
    assert r.json()["session"]["session_id"] == first
    assert r.json()["session"]["preset_id"] == "psilocybin"
    await start(c, "mdma", room="two")


async def test_commands_without_a_session_are_409(service: Service) -> None:
    c = service.client
    for path, body in [("/dose", {}), ("/advance", None), ("/hold", None), ("/note", {"text": "x"}), ("/end", None)]:
        r = await post(c, path, body)
        assert r.status_code == 409, (path, r.text)
        assert r.json()["detail"] == "room 'one' has no session running; start one first"


# Each case: preset, the steps that set it up (path, body, minutes to wait after), the conflicting
# command, and the message the therapist gets back.
Step = tuple[str, dict[str, Any] | None, float]
CONFLICTS: list[tuple[str, str, list[Step], tuple[str, dict[str, Any] | None], str]] = [
    (
        "second first dose",
        "psilocybin",
        [("/dose", {}, 0)],
        ("/dose", {"amount": "25 mg"}),
        "the first dose was already recorded; send booster: true for a supplemental dose",
    ),
    (
        "end before minimum observation",
        "psilocybin",
        [("/dose", {}, 120)],
        ("/end", None),
        "the minimum observation time has not passed (240 min left); send override_reason to end early",
    ),
    (
        "end with an empty override reason",
        "psilocybin",
        [("/dose", {}, 0)],
        ("/end", {"override_reason": ""}),
        "the minimum observation time has not passed (360 min left); send override_reason to end early",
    ),
    (
        "end with a blank override reason",
        "psilocybin",
        [("/dose", {}, 0)],
        ("/end", {"override_reason": "   "}),
        "the minimum observation time has not passed (360 min left); send override_reason to end early",
    ),
    ("booster before dose", "mdma", [], ("/dose", {"booster": True}), "record the first dose before a booster"),
    (
        "booster on a preset without one",
        "psilocybin",
        [("/dose", {}, 90)],
        ("/dose", {"booster": True}),
        "preset 'psilocybin' has no booster",
    ),
    (
        "booster beyond max_count",
        "mdma",
        [("/dose", {}, 90), ("/dose", {"booster": True}, 10)],
        ("/dose", {"booster": True}),
        "preset 'mdma' allows 1 booster(s); already given",
    ),
    ("advance in arrival", "psilocybin", [], ("/advance", None), "record the dose to leave arrival"),
    (
        "advance in closing",
        "psilocybin",
        [("/dose", {}, 7 * 60)],
        ("/advance", None),
        "already in the last phase; end the session instead",
    ),
    (
        "extend in arrival",
        "psilocybin",
        [],
        ("/extend", {"minutes": 10}),
        "phase 'arrival' is open-ended; it lasts until the next action",
    ),
    (
        "extend in closing",
        "psilocybin",
        [("/dose", {}, 7 * 60)],
        ("/extend", {"minutes": 10}),
        "phase 'closing' is open-ended; it lasts until the next action",
    ),
    (
        "hold twice",
        "psilocybin",
        [("/dose", {}, 5), ("/hold", None, 5)],
        ("/hold", None),
        "the session is already on hold",
    ),
    ("resume when not held", "psilocybin", [("/dose", {}, 5)], ("/resume", None), "the session is not on hold"),
    (
        "resume twice",
        "psilocybin",
        [("/dose", {}, 5), ("/hold", None, 5), ("/resume", None, 5)],
        ("/resume", None),
        "the session is not on hold",
    ),
    (
        "ack twice",
        "esketamine",
        [("/cues/bp_pre_dose@0/ack", {"not_taken_reason": "cuff broken; taken by hand, see note"}, 1)],
        ("/cues/bp_pre_dose@0/ack", {"not_taken_reason": "again"}),
        "cue 'bp_pre_dose@0' was already acknowledged",
    ),
    (
        "ack before it is due",
        "mdma",
        [("/dose", {}, 59)],
        ("/cues/vitals@60/ack", {"not_taken_reason": "early"}),
        "cue 'vitals@60' is not due until 2027-01-15T09:00:00+00:00 (in 1 min); it cannot be acknowledged "
        "before then. A reading taken now can be recorded as an unscheduled one",
    ),
    (
        "booster before its window",
        "mdma",
        [("/dose", {"amount": 120}, 60)],
        ("/dose", {"booster": True, "amount": 60}),
        "the booster window is 90-120 min after the first dose; it is now 60 min. "
        "Send override_reason to give it outside the window",
    ),
    (
        "booster after its window",
        "mdma",
        [("/dose", {"amount": 120}, 121)],
        ("/dose", {"booster": True, "amount": 60}),
        "the booster window is 90-120 min after the first dose; it is now 121 min. "
        "Send override_reason to give it outside the window",
    ),
    (
        "psilocybin above Oregon's limit",
        "psilocybin",
        [],
        ("/dose", {"amount": 60}),
        "60 mg in total is more than 50 mg, the most Oregon OAR 333-333-5250 allows in a session",
    ),
    (
        "sign in twice",
        "mdma",
        [("/facilitators", {"name": "A. Rivera"}, 0)],
        ("/facilitators", {"name": "A. Rivera"}),
        "'A. Rivera' is already signed in",
    ),
    (
        "ready to leave before the dose",
        "esketamine",
        [],
        ("/ready-to-leave", None),
        "record the dose first: ready to leave is counted from it",
    ),
]


@pytest.mark.parametrize(
    ("preset", "steps", "command", "message"), [c[1:] for c in CONFLICTS], ids=[c[0] for c in CONFLICTS]
)
async def test_conflicting_command_is_409_and_records_nothing(
    service: Service, preset: str, steps: list[Step], command: tuple[str, dict[str, Any] | None], message: str
) -> None:
    c = service.client
    await start(c, preset)
    for path, body, wait_min in steps:
        r = await post(c, path, body)
        assert r.status_code == 200, (path, r.text)
        await service.clock.advance(wait_min * 60)
    before = await c.get(f"{ROOM}/state")
    r = await post(c, *command)
    assert r.status_code == 409, r.text
    assert r.json() == {"detail": message}
    after = await c.get(f"{ROOM}/state")
    assert after.json()["session"]["event_count"] == before.json()["session"]["event_count"]
    assert after.json()["session"]["phase"] == before.json()["session"]["phase"]
    assert after.json()["session"]["status"] == before.json()["session"]["status"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/dose", {}),
        ("/dose", {"booster": True}),
        ("/advance", None),
        ("/extend", {"minutes": 10}),
        ("/hold", None),
        ("/resume", None),
        ("/note", {"text": "too late"}),
        ("/cues/vitals@60/ack", None),
        ("/end", None),
        ("/end", {"override_reason": "again"}),
    ],
)
async def test_any_command_after_end_is_409(service: Service, path: str, body: dict[str, Any] | None) -> None:
    c = service.client
    session_id = await start(c, "mdma")
    await post(c, "/dose", {})
    await service.clock.advance(8 * 60 * 60)
    r = await post(c, "/end")
    assert r.status_code == 200, r.text

    r = await post(c, path, body)
    assert r.status_code == 409, r.text
    assert r.json() == {"detail": "room 'one' has no session running; start one first"}
    # The ended session's record is unchanged, ending with 'ended' (the alert: no facilitator signed in).
    events = (await c.get(f"/api/sessions/{session_id}/events")).json()
    assert [e["type"] for e in events] == ["started", "dose_given", "alert", "ended"]


# --- 422: bad bodies and parameters, with field-level messages -----------------------------------


@pytest.mark.parametrize(
    ("minutes", "message"),
    [
        (0, "Input should be greater than 0"),
        (-5, "Input should be greater than 0"),
        (240.5, "Input should be less than or equal to 240"),
        (10_000, "Input should be less than or equal to 240"),
        ("ten", "Input should be a valid number, unable to parse string as a number"),
        (None, "Input should be a valid number"),
    ],
)
async def test_extend_minutes_out_of_range_is_422_naming_the_field(
    service: Service, minutes: Any, message: str
) -> None:
    c = service.client
    await start(c)
    await post(c, "/dose", {})
    before = await event_count(c)
    r = await post(c, "/extend", {"minutes": minutes})
    error = field_error(r, "body", "minutes")
    assert error["msg"] == message
    assert await event_count(c) == before


@pytest.mark.parametrize(
    "raw", [b'{"minutes": NaN}', b'{"minutes": Infinity}', b'{"minutes": -Infinity}', b'{"minutes": 1e400}']
)
async def test_extend_with_a_non_finite_number_is_422_not_500(service: Service, raw: bytes) -> None:
    # Python's JSON parser accepts NaN/Infinity (and 1e400 overflows to inf); none is a valid
    # number of minutes, and the answer must be a 422 naming the field, not a server error.
    c = service.client
    await start(c)
    await post(c, "/dose", {})
    before = await event_count(c)
    r = await c.post(f"{SESSION}/extend", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, f"{raw!r}: {r.status_code} {r.text}"
    field_error(r, "body", "minutes")
    assert await event_count(c) == before


async def test_non_finite_number_in_a_string_field_is_422_not_500(service: Service) -> None:
    c = service.client
    await start(c)
    r = await c.post(f"{SESSION}/dose", content=b'{"amount": NaN}', headers={"Content-Type": "application/json"})
    assert r.status_code == 422, f"{r.status_code} {r.text}"
    r = await c.get(f"{ROOM}/state")
    assert r.json()["session"]["dose_at"] is None


async def test_extend_minutes_at_the_limits_is_accepted(service: Service) -> None:
    c = service.client
    await start(c)
    await post(c, "/dose", {})
    for minutes in (0.5, 240):
        r = await post(c, "/extend", {"minutes": minutes})
        assert r.status_code == 200, (minutes, r.text)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("", {"preset": "psilocybin", "colour": "red"}, "colour"),
        ("/dose", {"boostr": True}, "boostr"),
        ("/extend", {"minutes": 10, "phase": "peak"}, "phase"),
        ("/note", {"text": "ok", "author": "me"}, "author"),
        ("/end", {"reason": "client asked to leave"}, "reason"),
    ],
)
async def test_unknown_body_field_is_422_naming_it(
    service: Service, path: str, body: dict[str, Any], field: str
) -> None:
    c = service.client
    if path:
        await start(c, "mdma")
        await post(c, "/dose", {})
        before = await event_count(c)
    r = await c.post(f"{SESSION}{path}", json=body)
    error = field_error(r, "body", field)
    assert error["type"] == "extra_forbidden"
    assert error["msg"] == "Extra inputs are not permitted"
    state = (await c.get(f"{ROOM}/state")).json()["session"]
    if path:
        # A misspelt field is refused, not silently dropped: nothing was recorded (and, for /end, the
        # session did not end without its reason).
        assert state["event_count"] == before
        assert state["status"] == "running"
    else:
        assert state is None


async def test_missing_preset_is_422(service: Service) -> None:
    c = service.client
    r = await c.post(SESSION, json={"client_label": "P-017"})
    error = field_error(r, "body", "preset")
    assert error["type"] == "missing"
    assert error["msg"] == "Field required"
    assert (await c.get(f"{ROOM}/state")).json()["session"] is None


async def test_start_without_a_body_is_422(service: Service) -> None:
    r = await service.client.post(SESSION)
    error = field_error(r, "body")
    assert error["msg"] == "Field required"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"preset": ""}, "preset", "String should have at least 1 character"),
        ({"preset": "p" * 41}, "preset", "String should have at most 40 characters"),
        ({"preset": 7}, "preset", "Input should be a valid string"),
        (
            {"preset": "psilocybin", "client_label": "x" * 81},
            "client_label",
            "String should have at most 80 characters",
        ),
    ],
)
async def test_bad_start_fields_are_422(service: Service, body: dict[str, Any], field: str, message: str) -> None:
    r = await service.client.post(SESSION, json=body)
    assert field_error(r, "body", field)["msg"] == message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"text": ""}, "String should have at least 1 character"),
        ({"text": "x" * 4001}, "String should have at most 4000 characters"),
        ({}, "Field required"),
    ],
)
async def test_bad_note_text_is_422(service: Service, body: dict[str, Any], message: str) -> None:
    c = service.client
    await start(c)
    before = await event_count(c)
    r = await post(c, "/note", body)
    assert field_error(r, "body", "text")["msg"] == message
    assert await event_count(c) == before


async def test_bad_dose_and_end_fields_are_422(service: Service) -> None:
    c = service.client
    await start(c)
    r = await post(c, "/dose", {"booster": "perhaps"})
    assert field_error(r, "body", "booster")["msg"] == "Input should be a valid boolean, unable to interpret input"
    r = await post(c, "/dose", {"amount": "m" * 41})
    assert (
        field_error(r, "body", "amount")["msg"] == "Input should be a valid number, unable to parse string as a number"
    )
    r = await post(c, "/dose", {"amount": -5})
    assert field_error(r, "body", "amount")["msg"] == "Input should be greater than 0"
    r = await post(c, "/dose", {"amount": 25, "unit": "g"})
    assert r.status_code == 422 and r.json() == {"detail": "unit: preset 'psilocybin' doses in mg, not g"}
    assert (await c.get(f"{ROOM}/state")).json()["session"]["dose_at"] is None

    await post(c, "/dose", {})
    r = await post(c, "/end", {"override_reason": "r" * 501})
    assert field_error(r, "body", "override_reason")["msg"] == "String should have at most 500 characters"
    assert (await c.get(f"{ROOM}/state")).json()["session"]["status"] == "running"


@pytest.mark.parametrize("raw", [b"not json", b'{"text": "unterminated', b"[]", b'"text"'])
async def test_malformed_json_body_is_422(service: Service, raw: bytes) -> None:
    c = service.client
    await start(c)
    before = await event_count(c)
    r = await c.post(f"{SESSION}/note", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail and all(e["loc"][0] == "body" for e in detail), detail
    assert await event_count(c) == before


async def test_unknown_report_format_is_422(service: Service) -> None:
    c = service.client
    session_id = await start(c)
    r = await c.get(f"/api/sessions/{session_id}/report", params={"format": "xml"})
    error = field_error(r, "query", "format")
    assert error["msg"] == "Input should be 'json', 'csv', 'pdf' or 'rems'"
