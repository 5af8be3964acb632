"""PANIC is on screen and tappable at every tablet and phone size, whatever else is open.

A therapist in a dark room uses the tablet in a hurry, with one hand: the panic button must never be
pushed below the fold or under something else. Here the worst case found on a phone is built for
real (twenty open alerts from ten blood-pressure readings, a long room name, long facilitator names
and client label), then each size is checked with the readings form open, with a dialog open and
with an error shown, at the top, middle and bottom of the page's scroll."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import Service
from tests.support import free_port
from tests.web.conftest import OpenPage, serve_on, session_command, url
from tests.web.geometry import scroll_main, visible_boxes

SIZES = {
    "phone portrait": {"width": 390, "height": 844},
    "phone landscape": {"width": 844, "height": 390},
    "tablet portrait": {"width": 800, "height": 1280},
    "small tablet landscape": {"width": 1024, "height": 768},
    "tablet landscape": {"width": 1280, "height": 800},
}
LONG_ROOM = "Room one, the garden room on the second floor of the east wing beside the quiet lounge"
FACILITATORS = ("A. Rivera-Montgomery de la Fuente-Castellanos", "B. Chen-Vandenberghe Oyelaran-Whitfield")
CLIENT = "P-0042 / second preparatory cohort / remote follow-up arm / consent v3 signed"

# The panic button's box, and whether the element at its centre and near each corner is the
# button itself (nothing drawn over it), without scrolling anything.
HIT_TEST_JS = """() => {
  const p = document.querySelector('#panic');
  const b = p.getBoundingClientRect();
  const points = [[0.5, 0.5], [0.15, 0.2], [0.85, 0.2], [0.15, 0.8], [0.85, 0.8]];
  const hits = points.map(([fx, fy]) => {
    const e = document.elementFromPoint(b.left + fx * b.width, b.top + fy * b.height);
    return !!e && (e === p || p.contains(e));
  });
  return {x: b.left, y: b.top, right: b.right, bottom: b.bottom, width: b.width, height: b.height,
          vw: innerWidth, vh: innerHeight, hits};
}"""


@pytest.fixture
def long_names_settings(settings: Settings, tmp_path: Path) -> Settings:
    path = tmp_path / "rooms-long.yaml"
    path.write_text(
        f"""\
rooms:
  - id: one
    name: "{LONG_ROOM}"
    audio: {{output: dummy, volume_ceiling_pct: 70}}
"""
    )
    return settings.model_copy(update={"rooms_file": path})


async def panic_on_screen(page: Page, where: str) -> None:
    await expect(page.locator("#panic")).to_be_visible()
    box: dict[str, Any] = await page.evaluate(HIT_TEST_JS)
    assert box["width"] >= 150 and box["height"] >= 90, f"{where}: PANIC is too small: {box}"
    inside = box["x"] >= 0 and box["y"] >= 0 and box["right"] <= box["vw"] and box["bottom"] <= box["vh"]
    assert inside, f"{where}: PANIC is not wholly on screen: {box}"
    assert all(box["hits"]), f"{where}: something is drawn over PANIC: {box}"


async def wholly_in_sight(page: Page, selector: str, where: str) -> None:
    """The element's whole box is on screen, cut by no scrolling ancestor, and nothing is drawn over it."""
    full = await page.locator(selector).bounding_box()
    seen = await visible_boxes(page, selector)
    assert full is not None and len(seen) == 1, f"{where}: not on screen ({seen})"
    assert abs(seen[0]["h"] - full["height"]) < 1 and abs(seen[0]["w"] - full["width"]) < 1, f"{where}: cut {seen[0]}"
    hit = await page.evaluate(
        """(sel) => { const n = document.querySelector(sel), b = n.getBoundingClientRect();
        const e = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2);
        return !!e && (e === n || n.contains(e)); }""",
        selector,
    )
    assert hit, f"{where}: something is drawn over it"


async def panic_on_screen_at_every_scroll(page: Page, where: str) -> None:
    for position in ("top", "middle", "bottom"):
        await scroll_main(page, position)
        await panic_on_screen(page, f"{where}, scrolled to the {position}")


async def twenty_alerts(service: Service) -> str:
    r = await service.client.post("/api/rooms/one/session", json={"preset": "psilocybin", "client_label": CLIENT})
    assert r.status_code == 201, r.text
    for name in FACILITATORS:
        await session_command(service, "/facilitators", {"name": name})
    state = await session_command(service, "/dose", {"amount": "25 mg"})
    for n in range(10):  # systolic above 160 and diastolic above 100: two alerts a reading
        await service.clock.advance(60)
        state = await session_command(
            service, "/readings", {"readings": {"systolic_mmhg": 170 + n, "diastolic_mmhg": 105}}
        )
    assert len(state["alerts"]) == 20
    return str(state["session_id"])


async def test_panic_stays_on_screen_with_twenty_alerts_a_form_a_dialog_and_an_error(
    long_names_settings: Settings, clock: ManualClock, open_page: OpenPage
) -> None:
    async with serve_on(long_names_settings, clock, free_port()) as service:
        await twenty_alerts(service)
        for size, viewport in SIZES.items():
            page = await open_page(url(service, "/?room=one"), viewport=viewport, theme="night")
            await expect(page.locator("#conn-chip")).to_have_text("Live")
            banner = page.locator("#alert-banner")
            # Grouped: one item a reading, the newest two listed, the rest behind "8 more".
            await expect(page.locator("#alert-title")).to_have_text("20 alerts · 10 readings")
            await expect(banner.locator(".alert-item")).to_have_count(2)
            await expect(banner.locator(".alert-item").first).to_contain_text("Systolic blood pressure high")
            await expect(banner.locator(".alert-item").first).to_contain_text("Diastolic blood pressure high")
            await expect(banner.get_by_role("button", name="8 more")).to_be_visible()
            await panic_on_screen_at_every_scroll(page, f"{size}, 20 alerts")

            await banner.get_by_role("button", name="8 more").click()
            await expect(banner.locator(".alert-item")).to_have_count(10)
            await panic_on_screen_at_every_scroll(page, f"{size}, all 10 alert groups listed")
            await banner.get_by_role("button", name="Show fewer").click()
            await expect(banner.locator(".alert-item")).to_have_count(2)

            # The readings form on the Notes tab, open: its Save is on screen too.
            await page.get_by_role("tab", name="Notes").click()
            await page.locator("#reading-kind").select_option("blood_pressure")
            save = page.locator("#reading-now").get_by_role("button", name=re.compile("^Save"))
            await save.scroll_into_view_if_needed()
            await panic_on_screen_at_every_scroll(page, f"{size}, readings form")
            await page.get_by_role("tab", name="Room").click()

            # The readings form on a due check's card: its Save is wholly in sight the moment it opens.
            cue = page.locator("#cue-list li", has_text="Baseline vitals")
            await cue.get_by_role("button", name=re.compile("^Acknowledge")).click()
            save = cue.get_by_role("button", name="Save readings")
            await expect(save).to_be_visible()
            await wholly_in_sight(page, "#cue-list .reading-actions button[type=submit]", f"{size}, Save readings")
            await panic_on_screen(page, f"{size}, a check's readings form open")
            await cue.get_by_role("button", name="Cancel").click()
            await expect(save).to_have_count(0)

            # A dialog (ending the session asks first).
            await page.get_by_role("button", name="End session…").click()
            await expect(page.get_by_role("dialog")).to_be_visible()
            await panic_on_screen(page, f"{size}, end dialog open")
            await page.keyboard.press("Escape")
            await expect(page.get_by_role("dialog")).to_be_hidden()

            # An error message beside the alerts.
            await page.route("**/session/hold", lambda route: route.fulfill(status=409, json={"detail": "not now"}))
            await page.get_by_role("button", name="Hold", exact=True).click()
            await expect(page.locator("#alerts-region")).to_contain_text("Could not hold: not now")
            await panic_on_screen_at_every_scroll(page, f"{size}, an error shown")
            await page.close()

        # And it works where it is: a tap at its centre, nothing scrolled, on the phone.
        page = await open_page(url(service, "/?room=one"), viewport=SIZES["phone portrait"])
        await expect(page.locator("#conn-chip")).to_have_text("Live")
        box = await page.evaluate(HIT_TEST_JS)
        await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        await expect(page.locator("#panic-active")).to_be_visible()
        await panic_on_screen_at_every_scroll(page, "phone portrait, in panic with 20 alerts")
        assert (await service.client.get("/api/rooms/one/state")).json()["panic"]["active"] is True


async def test_one_seen_acknowledges_a_readings_alerts_and_names_who_saw_them(
    long_names_settings: Settings, clock: ManualClock, open_page: OpenPage
) -> None:
    async with serve_on(long_names_settings, clock, free_port()) as service:
        session_id = await twenty_alerts(service)
        page = await open_page(url(service, "/?room=one"), viewport=SIZES["phone portrait"])
        banner = page.locator("#alert-banner")
        await expect(banner.locator(".alert-item")).to_have_count(2)
        newest = banner.locator(".alert-item").first
        await expect(newest).to_contain_text("179 mmHg")
        await newest.get_by_role("button", name=f"Seen by {FACILITATORS[1]}: Systolic blood pressure high").click()
        await expect(page.locator("#alert-title")).to_have_text("18 alerts · 9 readings")
        await expect(banner.locator(".alert-item").first).to_contain_text("178 mmHg")
        events = (await service.client.get(f"/api/sessions/{session_id}/events")).json()
        acks = [e["data"] for e in events if e["type"] == "alert_acknowledged"]
        assert len(acks) == 2 and {a["facilitator"] for a in acks} == {FACILITATORS[1]}
        boxes = await visible_boxes(page, "#alert-banner button")
        assert boxes, "the alerts' buttons are not on screen"
