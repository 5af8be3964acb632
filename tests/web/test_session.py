"""A session from the tablet: start it, dose, follow the arc live, acknowledge a check, and
the commands that need (and do not need) a confirmation: dose, booster, next phase and end ask
first; hold, resume and extend act at once."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.async_api import Page, expect

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import Service
from tests.support import free_port
from tests.web.conftest import OpenPage, room_state, serve_on, session_command, start_session, url

MIN = 60.0


async def open_room(open_page: OpenPage, service: Service, room: str = "one", **kwargs: object) -> Page:
    page = await open_page(url(service, f"/?room={room}"), **kwargs)
    await expect(page.locator("#conn-chip")).to_have_text("Live")
    return page


async def test_open_service_needs_no_sign_in_and_a_session_starts_from_the_tablet(
    service: Service, open_page: OpenPage
) -> None:
    page = await open_page(url(service))
    # Two rooms and none chosen yet: the tablet asks which room it is in.
    picker = page.get_by_role("heading", name="Choose the room for this tablet")
    await expect(picker).to_be_visible()
    await expect(page.locator("#signin")).to_be_hidden()
    await page.get_by_role("link", name="Room one").click()

    await expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
    await page.get_by_label("Protocol").select_option("psilocybin")
    await page.get_by_label("Client label").fill("P-017")
    await page.get_by_label("Intention (optional; no names)").fill("to meet my grief with kindness")
    await page.get_by_role("button", name="Start session").click()

    await expect(page.locator("#phase-name")).to_have_text("arrival")
    await expect(page.locator("#intention")).to_have_text("Intention: to meet my grief with kindness")
    state = (await service.client.get("/api/rooms/one/state")).json()["session"]
    assert state["intention"] == "to meet my grief with kindness"
    report = (await service.client.get(f"/api/sessions/{state['session_id']}/report?format=json")).json()
    assert report["intention"] == "to meet my grief with kindness"
    await expect(page.locator("#status-chip")).to_have_text("Before dose")
    await expect(page.locator("#session-label")).to_contain_text("P-017")
    state = (await room_state(service))["session"]
    assert (state["preset_id"], state["client_label"]) == ("psilocybin", "P-017")

    # The timeline (one tap away) shows every phase of the preset, arrival as the current one.
    await page.get_by_role("tab", name="Timeline").click()
    segments = page.locator("#lane-phases .seg")
    await expect(segments).to_have_count(7)
    await expect(page.locator("#lane-phases .phase-current")).to_have_text("arrival")
    await expect(page.locator("#now-marker")).to_be_visible()

    # The room is remembered: a reload comes straight back to it.
    await page.goto(url(service))
    await expect(page.locator("#phase-name")).to_have_text("arrival")


async def test_dose_asks_first_and_then_the_arc_runs_live(service: Service, open_page: OpenPage) -> None:
    await start_session(service, client_label="P-1")
    page = await open_room(open_page, service)

    await page.get_by_role("button", name="Record dose…").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("cannot be undone")
    # Cancel records nothing.
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    assert (await room_state(service))["session"]["dose_at"] is None

    await page.get_by_role("button", name="Record dose…").click()
    await expect(dialog).to_contain_text("The minimum session length follows the dose (Oregon OAR 333-333-5250)")
    await dialog.get_by_label("Amount (mg)").fill("25")
    await dialog.get_by_label("Lot number (optional)").fill("PSI-2611-04")  # the record names the product's lot
    await dialog.get_by_role("button", name="Record dose").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#phase-name")).to_have_text("onset")
    session_id = (await room_state(service))["session"]["session_id"]
    log = (await service.client.get(f"/api/sessions/{session_id}/events")).json()
    assert next(e["data"] for e in log if e["type"] == "dose_given")["lot"] == "PSI-2611-04"
    await page.get_by_role("tab", name="Timeline").click()
    await expect(page.locator("#lane-phases .phase-current")).to_have_text("onset")
    await expect(page.locator("#coming-up")).to_contain_text("Ascent begins")
    await page.get_by_role("tab", name="Room").click()

    # 40 minutes on the service's clock: onset gives way to ascent, on screen, without a reload.
    await service.clock.advance(40 * MIN + 1)
    await expect(page.locator("#phase-name")).to_have_text("ascent")
    await expect(page.locator("#status-region")).to_contain_text("Phase: ascent")
    await expect(page.locator("#time-in-phase")).to_have_text(re.compile(r"^0:0\d$"))
    await expect(page.locator("#time-since-dose")).to_have_text(re.compile(r"^40:0\d$"))
    await expect(page.locator("#phase-remaining")).to_contain_text("35 min left · peak at")

    # At 60 minutes the vitals check falls due; acknowledging it clears it.
    await service.clock.advance(20 * MIN)
    cue = page.locator("#cue-list li", has_text="Vitals check")
    await expect(cue).to_be_visible()
    await expect(page.locator("#status-region")).to_contain_text("Due now: Vitals check")
    await cue.get_by_role("button", name=re.compile("Acknowledge")).click()
    await cue.get_by_label("Systolic blood pressure (mmHg)").fill("118")
    await cue.get_by_label("Diastolic blood pressure (mmHg)").fill("76")
    await cue.get_by_label("Heart rate (bpm)").fill("66")
    await cue.get_by_role("button", name="Save readings").click()
    await expect(cue).to_have_count(0)
    await expect(page.locator("#cue-none")).to_be_visible()
    assert (await room_state(service))["session"]["due_cues"] == []


async def test_times_are_the_servers_not_the_tablets(service: Service, open_page: OpenPage) -> None:
    """The service's clock is in 2027 (T0); the tablet's is today. Countdowns follow the service."""
    await start_session(service)
    await session_command(service, "/dose", {})
    await service.clock.advance(25 * MIN)
    page = await open_room(open_page, service)
    await expect(page.locator("#time-in-phase")).to_have_text(re.compile(r"^25:0\d$"))
    await expect(page.locator("#phase-remaining")).to_contain_text("15 min left")


async def test_reversible_commands_act_at_once_and_irreversible_ones_ask(service: Service, open_page: OpenPage) -> None:
    await start_session(service)
    await session_command(service, "/dose", {})
    page = await open_room(open_page, service)
    dialog = page.get_by_role("dialog")

    await page.get_by_role("button", name="Hold", exact=True).click()
    await expect(page.locator("#status-chip")).to_have_text("On hold")
    await expect(dialog).to_be_hidden()
    assert (await room_state(service))["session"]["held"] is True
    await page.get_by_role("button", name="Resume", exact=True).click()
    await expect(page.locator("#status-chip")).to_have_text("Running")

    await page.get_by_role("group", name="Extend this phase").get_by_role("button", name="+15 min").click()
    await expect(page.locator("#phase-remaining")).to_contain_text("55 min left")
    await expect(dialog).to_be_hidden()

    # Next phase asks first (an Undo is offered for two minutes after), and Cancel changes nothing.
    await page.get_by_role("button", name="Next phase: ascent").click()
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Onset ends now")
    await expect(dialog).to_contain_text("For 2 minutes an Undo takes it back")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    assert (await room_state(service))["session"]["phase"] == "onset"
    await page.get_by_role("button", name="Next phase: ascent").click()
    await dialog.get_by_role("button", name="Start ascent").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#phase-name")).to_have_text("ascent")
    assert (await room_state(service))["session"]["phase"] == "ascent"
    # Taken back within two minutes: onset again, as if it had not been left; then moved on for good.
    undo = page.get_by_role("button", name=re.compile(r"^Undo: back to onset \(1:\d\d\)$"))
    await expect(undo).to_be_visible()
    await service.clock.advance(30)
    await undo.click()
    await expect(page.locator("#phase-name")).to_have_text("onset")
    await expect(undo).to_be_hidden()
    assert (await room_state(service))["session"]["phase"] == "onset"
    await page.get_by_role("button", name="Next phase: ascent").click()
    await dialog.get_by_role("button", name="Start ascent").click()
    await expect(page.locator("#phase-name")).to_have_text("ascent")
    await service.clock.advance(2 * MIN + 1)
    await session_command(service, "/note", {"text": "settled"})  # a change: the tablet hears the new time
    await expect(page.get_by_role("button", name=re.compile("^Undo"))).to_be_hidden()

    # Ending before the minimum observation time: the dialog asks for a reason and will not end without one.
    await page.get_by_role("button", name="End session…").click()
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("minimum observation time")
    await expect(dialog).not_to_contain_text("null")
    await dialog.get_by_role("button", name="End session").click()
    await expect(dialog.locator(".dialog-error")).to_have_text("Reason for ending early is needed.")
    assert (await room_state(service))["session"] is not None
    await dialog.get_by_label("Reason for ending early").fill("client asked to stop; stable")
    await dialog.get_by_role("button", name="End session").click()
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
    assert (await room_state(service))["session"] is None


async def test_a_note_is_saved_to_the_record(service: Service, open_page: OpenPage) -> None:
    started = await start_session(service)
    page = await open_room(open_page, service)
    await page.get_by_role("tab", name="Notes").click()
    await page.get_by_label("Note for the session record").fill("Client resting, breathing calm.")
    await page.get_by_role("button", name="Save note").click()
    await expect(page.locator("#note-list")).to_contain_text("Client resting, breathing calm.")
    await expect(page.get_by_label("Note for the session record")).to_have_value("")
    events = (await service.client.get(f"/api/sessions/{started['session_id']}/events")).json()
    assert [e["data"]["text"] for e in events if e["type"] == "note"] == ["Client resting, breathing calm."]


async def test_a_booster_is_offered_with_its_window_and_asks_first(service: Service, open_page: OpenPage) -> None:
    await start_session(service, preset="mdma")
    await session_command(service, "/dose", {"amount": "120 mg"})
    await service.clock.advance(95 * 60)  # inside the 90-120 min window
    page = await open_room(open_page, service)
    booster = page.get_by_role("button", name="Booster…")
    await expect(booster).to_be_visible()
    await expect(page.locator("#booster-hint")).to_contain_text("Booster window:")
    await booster.click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("cannot be undone")
    await expect(dialog).not_to_contain_text("outside its window")
    await dialog.get_by_label("Amount (mg, optional)").fill("60")
    await dialog.get_by_role("button", name="Record booster").click()
    await expect(dialog).to_be_hidden()
    await expect(booster).to_be_hidden()  # the preset allows one
    await expect(page.locator("#since-dose-label")).to_contain_text("booster")
    assert len((await room_state(service))["session"]["boosters_at"]) == 1


async def test_a_check_in_at_the_peak_moves_with_the_peak_when_it_is_reached_early(
    service: Service, open_page: OpenPage
) -> None:
    await start_session(service, preset="psilocybin")
    await session_command(service, "/dose", {})
    page = await open_room(open_page, service)
    await expect(page.locator("#cue-list li", has_text="Peak beginning")).to_have_count(0)
    await service.clock.advance(10 * MIN)
    for _ in range(2):  # onset -> ascent -> peak, an hour before the peak's planned start
        await session_command(service, "/advance", {})
    await expect(page.locator("#phase-name")).to_have_text("peak")
    # Due now, on the tablet, not at the old time.
    await expect(page.locator("#cue-list li", has_text="Peak beginning - quiet check-in")).to_have_count(1)
    state = await room_state(service)
    assert [c["id"] for c in state["session"]["due_cues"] if c["rule_id"] == "check_in_peak"] == ["check_in_peak@0"]


async def test_the_music_card_shows_what_comes_next_in_this_phase_and_when_the_next_phase_s_music_begins(
    service: Service, open_page: OpenPage
) -> None:
    await start_session(service, preset="psilocybin")
    await session_command(service, "/dose", {})
    page = await open_room(open_page, service)
    tracks = (await service.client.get("/api/rooms/one/plan")).json()["tracks"]
    zone = ZoneInfo((await service.client.get("/api/health")).json()["timezone"])
    now = service.clock.now()

    def hhmm(t: float) -> str:
        return datetime.fromtimestamp(t, zone).strftime("%H:%M")

    onset = [t for t in tracks if t["phase"] == "onset" and t["start"] > now]
    ascent = next(t for t in tracks if t["phase"] == "ascent")
    card = page.locator("#audio-card")
    await expect(card.locator("#next-track")).to_contain_text(f"Next: {onset[0]['title']}")
    # After the next track, the rest of the onset's (up to three), each with its planned time.
    # Behind the next phase's line (one line on the card): opened with a tap.
    await card.locator("#next-phase-music").click()
    coming = card.locator("#later-tracks li")
    await expect(coming).to_have_count(min(3, len(onset) - 1))
    await expect(coming.first).to_have_text(
        re.compile(rf"^Then {re.escape(onset[1]['title'])}.* at {hhmm(onset[1]['start'])}$")
    )
    await expect(card.locator("#next-phase-music")).to_have_text(
        f"The ascent's music begins at {hhmm(ascent['start'])} (planned)."
    )

    # Reaching the ascent by hand moves it: the card then speaks of the ascent and the peak.
    await session_command(service, "/advance", {})
    await expect(page.locator("#phase-name")).to_have_text("ascent")
    peak = next(t for t in (await service.client.get("/api/rooms/one/plan")).json()["tracks"] if t["phase"] == "peak")
    await expect(card.locator("#next-phase-music")).to_have_text(
        f"The peak's music begins at {hhmm(peak['start'])} (planned)."
    )


async def test_a_quick_note_from_the_clinic_s_list_is_one_tap(
    settings: Settings, clock: ManualClock, open_page: OpenPage
) -> None:
    clinic = settings.model_copy(update={"quick_notes": ["Eyeshades off for a moment", "Blanket added"]})
    async with serve_on(clinic, clock, free_port()) as service:
        started = await start_session(service)
        page = await open_room(open_page, service)
        await page.get_by_role("tab", name="Notes").click()
        buttons = page.get_by_role("group", name="One-tap notes").get_by_role("button")
        await expect(buttons).to_have_text(["Eyeshades off for a moment", "Blanket added"])
        await page.get_by_role("button", name="Blanket added").click()  # one tap: nothing typed, nothing asked
        await expect(page.locator("#note-list")).to_contain_text("Blanket added")
        events = (await service.client.get(f"/api/sessions/{started['session_id']}/events")).json()
        assert [(e["data"]["text"], e["data"]["by"]) for e in events if e["type"] == "note"] == [
            ("Blanket added", "http:open")
        ]
