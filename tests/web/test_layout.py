"""Where things are: the room's essentials on one landscape tablet screen, the secondary panels one
tap away, nothing under the panic button or under a message at any scroll position, a short phone
page, timeline labels that stay readable, and the overview's PANIC away from "Open room"."""

from __future__ import annotations

import re
from itertools import pairwise

from playwright.async_api import Page, expect

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import Service
from tests.support import Mosquitto, free_port
from tests.web.conftest import OpenPage, serve_on, session_command, start_session, url
from tests.web.geometry import SIZES, Box, controls_under, main_overflow_px, overlap, scroll_main, visible_boxes

MIN = 60.0
TABLET = SIZES["tablet landscape"]


async def session_in_peak_with_a_due_check(service: Service) -> None:
    await start_session(service, client_label="P-3")
    await session_command(service, "/dose", {"amount": "25 mg"})
    await service.clock.advance(76 * MIN)  # peak; vitals@60 and check_in_peak@0 (the peak began at 75) due
    await session_command(service, "/cues/vitals@60/ack", {"not_taken_reason": "client asleep"})


async def open_room(open_page: OpenPage, service: Service, viewport: dict[str, int]) -> Page:
    page = await open_page(url(service, "/?room=one"), viewport=viewport)
    await expect(page.locator("#conn-chip")).to_have_text("Live")
    return page


async def nothing_under_the_panic_button(page: Page, where: str) -> None:
    for position in ("top", "middle", "bottom"):
        await scroll_main(page, position)
        assert await controls_under(page, "#panic") == [], f"{where}, scrolled to the {position}"


async def test_the_panic_button_covers_no_control(service: Service, open_page: OpenPage) -> None:
    for size, viewport in SIZES.items():
        page = await open_room(open_page, service, viewport)
        await expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
        await nothing_under_the_panic_button(page, f"{size}, start screen")
    await session_in_peak_with_a_due_check(service)
    for size, viewport in SIZES.items():
        page = await open_room(open_page, service, viewport)
        await expect(page.locator("#cue-list li")).to_have_count(1)
        for tab in ("Room", "Timeline", "Lights", "Notes"):
            await page.get_by_role("tab", name=tab).click()
            await nothing_under_the_panic_button(page, f"{size}, {tab} tab")
        await page.get_by_role("tab", name="Room").click()
        await page.get_by_role("button", name=re.compile("^Display:")).click()
        await nothing_under_the_panic_button(page, f"{size}, display menu open")
        await page.keyboard.press("Escape")
        await page.get_by_role("button", name="End session…").click()
        await expect(page.get_by_role("dialog")).to_be_visible()
        assert await controls_under(page, "#panic") == [], f"{size}, end dialog"
        await page.keyboard.press("Escape")
        await page.get_by_role("button", name="Panic").click()
        await expect(page.locator("#panic-active")).to_be_visible()
        await nothing_under_the_panic_button(page, f"{size}, in panic")
        await page.get_by_role("button", name="Clear and restore the room").click()
        await expect(page.locator("#panic-active")).to_be_hidden()


async def test_messages_cover_no_control(service: Service, open_page: OpenPage) -> None:
    await start_session(service)
    await session_command(service, "/dose", {})
    pages = [await open_room(open_page, service, viewport) for viewport in SIZES.values()]
    # A phase change and a check falling due (the moment the Acknowledge button matters), and an error.
    await service.clock.advance(61 * MIN)
    for page in pages:
        await expect(page.locator("#status-region")).to_contain_text("Due now: Vitals check")
        await expect(page.locator("#status-region")).to_contain_text("Phase: ")
        await page.route("**/session/hold", lambda route: route.fulfill(status=409, json={"detail": "not now"}))
        await page.get_by_role("button", name="Hold", exact=True).click()
        await expect(page.locator("#alerts-region")).to_contain_text("Could not hold: not now")
        assert await page.locator(".toast").count() == 3
        for position in ("top", "middle", "bottom"):
            await scroll_main(page, position)
            assert await controls_under(page, ".toast") == [], f"{page.viewport_size}, scrolled to the {position}"
        await scroll_main(page, "top")
        await expect(page.get_by_role("button", name="Acknowledge: Vitals check")).to_be_in_viewport()


def inside(box: Box, frame: Box) -> bool:
    return (
        box["x"] >= frame["x"] - 0.5
        and box["y"] >= frame["y"] - 0.5
        and box["x"] + box["w"] <= frame["x"] + frame["w"] + 0.5
        and box["y"] + box["h"] <= frame["y"] + frame["h"] + 0.5
    )


async def test_the_essentials_fit_one_landscape_tablet_screen(
    lit_settings: Settings, clock: ManualClock, mosquitto: Mosquitto, open_page: OpenPage
) -> None:
    async with serve_on(lit_settings, clock, free_port()) as service:
        await start_session(service, client_label="P-3")
        await session_command(service, "/dose", {"amount": "25 mg"})
        # Over an hour into the peak (the longest timers), with three checks due at once.
        await service.clock.advance(146 * MIN)
        page = await open_room(open_page, service, TABLET)
        await expect(page.locator("#cue-list li")).to_have_count(3)
        await expect(page.locator("#time-in-phase")).to_have_text(re.compile(r"^1:11:"))
        await essentials_on_one_screen(page)


async def essentials_on_one_screen(page: Page) -> None:
    await expect(page.locator("#np-title")).not_to_have_text("—")
    assert await main_overflow_px(page) == 0, "the room view scrolls at 1280x800"
    screen: Box = {"name": "viewport", "x": 0, "y": 0, "w": TABLET["width"], "h": TABLET["height"]}
    essentials = {
        "phase": "#phase-name",
        "time in phase": "#time-in-phase",
        "time since dose": "#time-since-dose",
        "time left": "#phase-remaining",
        "next cue": "#next-cue",
        "Acknowledge": "#cue-list button",
        "now playing": "#np-title",
        "volume": "#volume",
        "volume down": "#volume-down",
        "volume up": "#volume-up",
        "scenes": "#scene-buttons button",
        "next phase": "#advance-button",
        "hold": "#hold-button",
        "panic": "#panic",
    }
    for what, selector in essentials.items():
        boxes = await visible_boxes(page, selector)
        assert boxes, f"{what} is not on screen"
        for box in boxes:
            full = await page.locator(selector).first.bounding_box()
            assert full is not None and inside(box, screen) and abs(box["h"] - full["height"]) < 1, f"{what}: {box}"
    assert await page.locator("#scene-buttons button").count() == len(
        await visible_boxes(page, "#scene-buttons button")
    )
    # Nothing in a card sticks out of it (the phase card's status chips wrap instead).
    outside = await page.evaluate(
        """() => [...document.querySelectorAll('.card .chip, .card button')].filter((e) => {
          const a = e.getBoundingClientRect(), card = e.closest('.card').getBoundingClientRect();
          return a.width > 0 && (a.right > card.right + 0.5 || a.left < card.left - 0.5);
        }).map((e) => e.id || e.textContent.trim())"""
    )
    assert outside == [], f"sticking out of their card at 1280x800: {outside}"

    # The rest is one tap away, each on its own tab.
    for tab, shows in (("Timeline", "#lane-phases"), ("Lights", "#light-list"), ("Notes", "#note-text")):
        await page.get_by_role("tab", name=tab).click()
        await expect(page.locator(shows)).to_be_visible()
        await expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")
        await expect(page.locator("#phase-name")).to_be_hidden()
    await page.get_by_role("tab", name="Room").click()
    await expect(page.locator("#phase-name")).to_be_visible()


async def test_the_phone_page_is_short_under_a_compact_header(service: Service, open_page: OpenPage) -> None:
    await session_in_peak_with_a_due_check(service)
    page = await open_room(open_page, service, SIZES["phone"])
    await expect(page.locator("#cue-list li")).to_have_count(1)
    header = await page.locator("#topbar").bounding_box()
    assert header is not None and header["height"] <= 110, header  # it was 250 px
    length = await page.evaluate("document.querySelector('main').scrollHeight")
    assert length <= 2000, f"the phone's room view is {length} px long"  # it was 4052 px
    await expect(page.get_by_role("button", name="Acknowledge: Peak beginning")).to_be_in_viewport()


LABELS_JS = """(lane) => {
  const segs = [...document.querySelectorAll(`${lane} .seg`)];
  const r = (n) => n.getBoundingClientRect();
  return segs.map((s) => {
    const label = s.querySelector('.seg-label');
    return {phase: s.dataset.phase, outside: s.classList.contains('outside'),
            text: label.textContent, clipped: label.scrollWidth > label.clientWidth + 1 || r(label).right > r(s).right + 1};
  });
}"""

BOXES_JS = """(sel) => [...document.querySelectorAll(sel)].map((n) => {
  const b = n.getBoundingClientRect(); return {name: n.textContent, x: b.left, y: b.top, w: b.width, h: b.height};
})"""


async def test_short_phases_keep_their_labels_and_clock_labels_do_not_run_together(
    service: Service, open_page: OpenPage
) -> None:
    await session_in_peak_with_a_due_check(service)
    for size, viewport in SIZES.items():
        page = await open_room(open_page, service, viewport)
        await page.get_by_role("tab", name="Timeline").click()
        await expect(page.locator("#lane-phases .seg")).to_have_count(7)
        labels = await page.evaluate(LABELS_JS, "#lane-phases")
        callouts = await page.evaluate(BOXES_JS, "#phase-callouts .callout")
        named = {c["name"] for c in callouts}
        for label in labels:
            if label["outside"]:
                assert label["phase"] in named or label["phase"][:3] + "." in named, (
                    f"{size}: {label['phase']} has no label"
                )
            else:
                assert not label["clipped"] and label["text"], f"{size}: {label}"
                assert label["phase"].startswith(label["text"].rstrip(".")), label
        assert not [
            (a["name"], b["name"]) for i, a in enumerate(callouts) for b in callouts[i + 1 :] if overlap(a, b)
        ], f"{size}: callouts overlap: {callouts}"
        lane = await page.locator("#lane-phases").bounding_box()
        assert lane is not None
        for c in callouts:
            assert lane["x"] - 1 <= c["x"] and c["x"] + c["w"] <= lane["x"] + lane["width"] + 1, (size, c)
        ticks = await page.evaluate(BOXES_JS, "#axis .tick")
        assert len(ticks) >= 2, (size, ticks)
        gaps = [b["x"] - (a["x"] + a["w"]) for a, b in pairwise(ticks)]
        assert min(gaps) >= 8, f"{size}: clock labels run together: {ticks}"
        assert ticks[0]["x"] >= lane["x"] - 1 and ticks[-1]["x"] + ticks[-1]["w"] <= lane["x"] + lane["width"] + 1, (
            ticks
        )


async def test_overview_panic_is_far_from_open_room(service: Service, open_page: OpenPage) -> None:
    await start_session(service, room="one")
    for size, viewport in SIZES.items():
        page = await open_page(url(service, "/overview"), viewport=viewport)
        await expect(page.locator(".room-card")).to_have_count(2)
        for room in ("Room one", "Room two"):
            panic = await page.get_by_role("button", name=f"Panic in {room}").bounding_box()
            open_ = await page.get_by_role("link", name=f"Open {room}").bounding_box()
            assert panic is not None and open_ is not None
            apart = open_["y"] - (panic["y"] + panic["height"])
            assert apart >= 48, f"{size}, {room}: PANIC and Open room are {apart:.0f} px apart"
