"""The clinical record from the tablet, in night mode: a blood pressure entered on the check's own card
(numeric keypad, large targets, the night palette), the alert banner, the facilitators' sign-in, and a
whole demo esketamine session whose PDF and REMS export are downloaded from the dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.async_api import Page, expect

from tests.api.test_clinical_record import pdf_text
from tests.conftest import Service
from tests.web.conftest import OpenPage, room_state, session_command, start_session, url
from tests.web.test_display import assert_dark

MIN = 60.0


async def open_room(open_page: OpenPage, service: Service) -> Page:
    page = await open_page(url(service, "/?room=one"), theme="night")
    await expect(page.locator("#conn-chip")).to_have_text("Live")
    return page


async def events(service: Service, session_id: str) -> list[dict[str, object]]:
    return list((await service.client.get(f"/api/sessions/{session_id}/events")).json())


async def test_a_blood_pressure_entered_from_the_cue_card_at_night(service: Service, open_page: OpenPage) -> None:
    session = await start_session(service, preset="esketamine", client_label="P-N1", staffed=False)
    page = await open_room(open_page, service)
    decoder = await open_page("about:blank")
    cue = page.locator("#cue-list li", has_text="Baseline before the dose")
    await cue.get_by_role("button", name=re.compile("^Acknowledge")).click()

    systolic = cue.get_by_label("Systolic blood pressure (mmHg)")
    await expect(systolic).to_be_focused()
    # The numeric keypad, and targets a gloved finger can hit.
    for label in ("Systolic blood pressure (mmHg)", "Diastolic blood pressure (mmHg)", "Heart rate (bpm)", "SpO2 (%)"):
        field = cue.get_by_label(label)
        await expect(field).to_have_attribute("inputmode", "numeric")
        box = await field.bounding_box()
        assert box is not None and box["height"] >= 52, (label, box)
    await systolic.fill("152")
    await cue.get_by_label("Diastolic blood pressure (mmHg)").fill("94")
    await cue.get_by_label("Heart rate (bpm)").fill("76")
    await assert_dark(page, decoder, "the readings form, open")
    # A reading left out is named before anything is sent.
    await cue.get_by_role("button", name="Save readings").click()
    await expect(cue.locator(".reading-error")).to_have_text("SpO2 is needed (or tap “Not taken…”).")
    await cue.get_by_label("SpO2 (%)").fill("97")
    await cue.get_by_role("button", name="Save readings").click()
    await expect(cue).to_have_count(0)

    log = await events(service, session["session_id"])
    reading = next(e for e in log if e["type"] == "reading")
    assert reading["data"]["values"] == {  # type: ignore[index]
        "systolic_mmhg": 152,
        "diastolic_mmhg": 94,
        "heart_rate_bpm": 76,
        "spo2_pct": 97,
    }
    # 152/94 before the dose: the label's threshold. The alert is beside the panic button, at night.
    banner = page.locator("#alert-banner")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("140/90 before dosing")
    await assert_dark(page, decoder, "the alert banner")
    # Systolic above 140 and diastolic above 90: two alerts in the record, one thing to see and one tap.
    await expect(page.locator("#alert-title")).to_have_text("2 alerts")
    seen = banner.get_by_role("button", name=re.compile("^Acknowledge alert"))
    await expect(seen).to_have_count(1)
    await seen.click()
    await expect(banner).to_be_hidden()
    log = await events(service, session["session_id"])
    assert [e["type"] for e in log][-2:] == ["alert_acknowledged", "alert_acknowledged"]
    alerts = [e for e in log if e["type"] == "alert"]
    assert {a["data"]["reading_seq"] for a in alerts} == {reading["seq"]}  # type: ignore[index]


async def test_an_alert_is_acknowledged_by_the_facilitator_who_saw_it_in_one_tap_at_night(
    service: Service, open_page: OpenPage, tmp_path: Path
) -> None:
    session = await start_session(service, preset="esketamine", client_label="P-SEEN", staffed=False)
    for name in ("A. Rivera", "B. Chen"):
        await session_command(service, "/facilitators", {"name": name})
    await session_command(service, "/readings", {"readings": {"systolic_mmhg": 150, "diastolic_mmhg": 85}})
    page = await open_room(open_page, service)
    decoder = await open_page("about:blank")
    banner = page.locator("#alert-banner")
    await expect(banner).to_contain_text("140/90 before dosing")
    # One button per facilitator signed in: naming who saw it costs no extra tap.
    buttons = banner.get_by_role("button", name=re.compile("^Seen by"))
    await expect(buttons).to_have_count(2)
    for button in await buttons.all():
        box = await button.bounding_box()
        assert box is not None and box["height"] >= 52 and box["width"] >= 52, box
    await assert_dark(page, decoder, "the alert banner with who saw it")
    await banner.get_by_role("button", name=re.compile("^Seen by B. Chen")).click()
    await expect(banner).to_be_hidden()

    sid = session["session_id"]
    ack = [e for e in await events(service, sid) if e["type"] == "alert_acknowledged"]
    assert [e["data"]["facilitator"] for e in ack] == ["B. Chen"]  # type: ignore[index]
    report = (await service.client.get(f"/api/sessions/{sid}/report")).json()
    assert [a["acknowledged_by"] for a in report["alerts"]] == ["B. Chen"]
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes((await service.client.get(f"/api/sessions/{sid}/report", params={"format": "pdf"})).content)
    assert "by B. Chen" in pdf_text(pdf)


async def test_rems_forms_to_file_say_overdue_and_no_form_for_a_session_without_a_dose(
    service: Service, open_page: OpenPage
) -> None:
    owed = await start_session(service, preset="esketamine", client_label="P-OWED")
    await session_command(service, "/dose", {"amount": 56})
    await session_command(service, "/end", {"override_reason": "test"})
    await service.clock.advance(9 * 86400)
    await start_session(service, preset="esketamine", client_label="P-NODOSE")
    await session_command(service, "/end", {})

    page = await open_page(url(service, "/overview"))
    items = page.locator("#rems-list li")
    await expect(items).to_have_count(1)  # the session without a dose owes no form
    await expect(items.first).to_contain_text("P-OWED")
    await expect(items.first).to_contain_text("REMS form 2 days overdue")
    await expect(items.first).to_have_class(re.compile(r"\boverdue\b"))

    room = await open_room(open_page, service)
    recent = room.locator("#recent-list li", has_text="P-NODOSE")
    await expect(recent).to_contain_text("no dose recorded: no REMS form due")
    await expect(recent).not_to_contain_text("null")
    assert owed["session_id"]


async def test_a_demo_esketamine_session_from_the_dashboard_to_its_pdf_and_rems_export(
    service: Service, open_page: OpenPage, tmp_path: Path
) -> None:
    page = await open_room(open_page, service)
    await page.get_by_label("Protocol").select_option("esketamine")
    await page.get_by_label("Client label").fill("P-DEMO")
    await page.get_by_role("button", name="Start session").click()
    await expect(page.locator("#phase-name")).to_have_text("arrival")
    await expect(page.locator("#staff-chip")).to_have_text("0/1 staff")
    await expect(page.locator("#staff-chip")).to_have_attribute("aria-label", "0 of 1 facilitator signed in")

    # The facilitator signs in (Notes tab).
    await page.get_by_role("tab", name="Notes").click()
    await page.get_by_label("Facilitator's name").fill("Dr. Okafor")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#facilitator-list")).to_contain_text("Dr. Okafor")
    await page.get_by_role("tab", name="Room").click()
    await expect(page.locator("#staff-chip")).to_have_text("1/1 staff")

    async def check(label: str, values: dict[str, str], yes_no: dict[str, bool] | None = None) -> None:
        cue = page.locator("#cue-list li", has_text=label)
        await cue.get_by_role("button", name=re.compile("^Acknowledge")).click()
        for field, value in values.items():
            await cue.get_by_label(field).fill(value)
        for question, answer in (yes_no or {}).items():
            await cue.get_by_role("group", name=question).get_by_role("button", name="Yes" if answer else "No").click()
        await cue.get_by_role("button", name="Save readings").click()
        await expect(cue).to_have_count(0)

    bp = ("Systolic blood pressure (mmHg)", "Diastolic blood pressure (mmHg)")
    await check("Baseline before the dose", {bp[0]: "128", bp[1]: "82", "Heart rate (bpm)": "70", "SpO2 (%)": "98"})

    await page.get_by_role("button", name="Record dose…").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Dose (mg)").fill("56")
    await dialog.get_by_label("Lot number").fill("L-2207")
    await dialog.get_by_role("button", name="Record first device").click()
    await expect(page.locator("#phase-name")).to_have_text("onset")

    clock = service.clock
    await clock.advance(5 * MIN)
    device = page.locator("#cue-list li", has_text="Device 2 of 2 (28 mg)")
    await device.get_by_role("button", name=re.compile("^Acknowledge")).click()
    await expect(device).to_have_count(0)

    monitoring = {"Sedation": False, "Dissociation": True, "Respiratory depression": False}
    for at in (20, 40, 60, 80, 100, 120):
        state = (await room_state(service))["session"]
        await clock.advance_to(state["dose_at"] + at * MIN)
        await check("Sedation, dissociation, breathing", {"SpO2 (%)": "97"}, monitoring)
        if at == 40:
            await check("Blood pressure at ~40 min", {bp[0]: "136", bp[1]: "86"})
        if at == 60:
            await check("Check in with the client", {"Note · optional": "oriented, talking"})
        if at == 100:
            await page.get_by_role("button", name="Ready to leave…").click()
            await dialog.get_by_role("button", name="Record ready to leave").click()
            await expect(page.get_by_role("button", name="Ready to leave…")).to_be_hidden()
    await check("Blood pressure before discharge", {bp[0]: "124", bp[1]: "80"})

    await page.get_by_role("button", name="End session…").click()
    await dialog.get_by_role("button", name="End session").click()
    await expect(page.get_by_role("heading", name="Start a session")).to_be_visible()

    # After the session, its files from the start card.
    recent = page.locator("#recent-list li", has_text="P-DEMO")
    await expect(recent).to_contain_text("REMS form due in 7 days")
    async with page.expect_download() as pdf_download:
        await recent.get_by_role("button", name="Report (PDF)").click()
    pdf = tmp_path / "report.pdf"
    await (await pdf_download.value).save_as(pdf)
    text = pdf_text(pdf)
    for expected in ("P-DEMO", "128/82", "136/86", "124/80", "sedation no", "dissociation yes", "L-2207", "Dr. Okafor"):
        assert expected in text, expected

    async with page.expect_download() as rems_download:
        await recent.get_by_role("button", name="REMS form").click()
    rems_file = tmp_path / "rems.json"
    await (await rems_download.value).save_as(rems_file)
    form = json.loads(rems_file.read_text())
    assert form["missing"] == [], form["missing"]
    assert (form["dose_administered"], form["lot_number"]) == ("56 mg", "L-2207")
    assert (form["bp_before_administration"]["value"], form["bp_40_min"]["value"]) == ("128/82", "136/86")
    assert form["bp_before_completion"]["value"] == "124/80"
    assert (form["sedation"], form["dissociation"], form["respiratory_depression"]) == (False, True, False)
    assert form["ready_to_leave_min"] == 100.0 and form["monitored_by"] == ["Dr. Okafor"]
