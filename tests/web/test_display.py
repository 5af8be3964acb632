"""What the room sees and what every facilitator can use: night mode by default and its measured
darkness in every state (dialogs, menus, the panic banner included), no jump to day by itself, a
pinnable day mode and an extra-dim level, and an accessibility pass — axe-core's WCAG A/AA rules
(labels, names, contrast) in night and day, the keyboard focus order, and touch target sizes."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from playwright.async_api import Page, expect

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import Service
from tests.support import Mosquitto, free_port
from tests.web.conftest import OpenPage, no_violations, run_axe, serve_on, session_command, start_session, url
from tests.web.geometry import SIZES
from tests.web.luminance import NIGHT_BOUNDS, Luma, screen_luma

MIN = 60.0
# White is 1.0; night mode's brightest colour, pure red, is 0.2126. Nothing may pass it.
NIGHT_MAX_LUMINANCE = 0.2126
# Red only: no colour painted at night has more green or blue than this (of 255); orange has ~100.
NIGHT_MAX_GREEN_BLUE = 8

# Every colour each visible element paints with: its relative luminance (WCAG) and its green/blue.
COLOURS_JS = """([limit, gb]) => {
  const lin = c => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const out = [];
  for (const node of document.querySelectorAll('*')) {
    const r = node.getBoundingClientRect();
    const cs = getComputedStyle(node);
    if (!r.width || !r.height || cs.visibility === 'hidden' || node.closest('[hidden]')) continue;
    const props = ['color', 'background-color', 'border-top-color', 'border-bottom-color', 'outline-color'];
    for (const p of props) {
      if (p.startsWith('border') && cs[p.replace('-color', '-width').replace(/-([a-z])/g, (_, c) => c.toUpperCase())] === '0px') continue;
      if (p === 'outline-color' && cs.outlineStyle === 'none') continue;
      const m = cs.getPropertyValue(p).match(/rgba?\\(([\\d.]+),\\s*([\\d.]+),\\s*([\\d.]+)(?:,\\s*([\\d.]+))?/);
      if (!m || (m[4] !== undefined && Number(m[4]) === 0)) continue;
      const [R, G, B] = [+m[1], +m[2], +m[3]];
      const L = 0.2126 * lin(R) + 0.7152 * lin(G) + 0.0722 * lin(B);
      if (L > limit + 1e-4 || G > gb || B > gb) {
        out.push(`${node.tagName.toLowerCase()}#${node.id}.${node.className} ${p}=${cs.getPropertyValue(p)} L=${L.toFixed(3)}`);
      }
    }
  }
  return out;
}"""


async def assert_dark(page: Page, decoder: Page, where: str, *, theme: str = "night") -> Luma:
    """The screen as it is now: night mode, red only, and no brighter than the README's night figures."""
    assert await page.evaluate("document.documentElement.dataset.theme") == theme, where
    bright = await page.evaluate(COLOURS_JS, [NIGHT_MAX_LUMINANCE, NIGHT_MAX_GREEN_BLUE])
    assert bright == [], f"{where}: colours too bright or not red: {bright[:10]}"
    luma = await screen_luma(page, decoder)
    size = page.viewport_size
    assert size is not None
    mean_max, p99_max = NIGHT_BOUNDS[f"{size['width']}x{size['height']}"]
    assert luma.mean <= mean_max and luma.p99 <= p99_max, (
        f"{where}: {luma}; the night screenshots of this size reach mean {mean_max}, 99th percentile {p99_max}"
    )
    return luma


async def session_with_a_due_check(service: Service) -> None:
    await start_session(service, client_label="P-3")
    await session_command(service, "/dose", {"amount": "25 mg"})
    await service.clock.advance(61 * MIN)  # vitals@60 is due


async def test_every_night_state_stays_as_dark_as_the_screenshots(service: Service, open_page: OpenPage) -> None:
    await session_with_a_due_check(service)
    decoder = await open_page("about:blank")
    for size in SIZES:
        page = await open_page(url(service, "/?room=one"), viewport=SIZES[size])
        await expect(page.locator("#cue-list li")).to_have_count(1)
        await expect(page.locator("#conn-chip")).to_have_text("Live")
        await assert_dark(page, decoder, f"{size}: room view")
        for tab in ("Timeline", "Lights", "Notes"):
            await page.get_by_role("tab", name=tab).click()
            await assert_dark(page, decoder, f"{size}: {tab} tab")
        await page.get_by_role("tab", name="Room").click()

        # The display menu; a dialog, with its backdrop and the focus ring.
        await page.get_by_role("button", name=re.compile("^Display:")).click()
        await expect(page.get_by_role("group", name="Display")).to_be_visible()
        await assert_dark(page, decoder, f"{size}: display menu")
        await page.keyboard.press("Escape")
        await page.get_by_role("button", name="End session…").click()
        await expect(page.get_by_role("dialog")).to_be_visible()
        await page.keyboard.press("Tab")
        await assert_dark(page, decoder, f"{size}: end dialog")
        await page.keyboard.press("Escape")

        # The panic banner, then kept bright and quiet after it.
        await page.get_by_role("button", name="Panic").click()
        await expect(page.locator("#panic-active")).to_contain_text("Panic sent")
        await assert_dark(page, decoder, f"{size}: panic")
        await page.get_by_role("button", name="Clear, keep it bright and quiet").click()
        await expect(page.locator("#panic-active-title")).to_contain_text("After the panic")
        await assert_dark(page, decoder, f"{size}: held after the panic")
        await page.get_by_role("button", name="Restore the room").click()
        await assert_dark(page, decoder, f"{size}: asked before restoring")
        await page.get_by_role("dialog").get_by_role("button", name="Restore now").click()
        await expect(page.locator("#panic-active")).to_be_hidden()

    overview = await open_page(url(service, "/overview"))
    await expect(overview.locator(".room-card")).to_have_count(2)
    await assert_dark(overview, decoder, "overview")


async def test_night_before_a_session_and_no_jump_to_day_when_it_ends(service: Service, open_page: OpenPage) -> None:
    page = await open_page(url(service, "/?room=one"))  # no display mode chosen on this tablet
    decoder = await open_page("about:blank")
    await expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
    await expect(page.get_by_role("button", name="Display: Night (auto)")).to_be_visible()
    before = await assert_dark(page, decoder, "start screen before a session")

    await session_with_a_due_check(service)
    await expect(page.locator("#cue-list li")).to_have_count(1)
    during = await assert_dark(page, decoder, "during the session")
    await page.get_by_role("button", name="End session…").click()
    await page.get_by_label("Reason for ending early").fill("test")
    await page.get_by_role("dialog").get_by_role("button", name="End session").click()
    await expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
    # Ended, the room still dim and the client still there: the screen stays night, and as dark.
    for _ in range(3):
        after = await assert_dark(page, decoder, "after the session ended")
        await service.clock.advance(5 * MIN)
        await asyncio.sleep(0.3)
    assert after.mean <= max(before.mean, during.mean) + 1, (before, during, after)

    # Lost connection on the start screen: still night.
    await page.route("**/api/health", lambda route: route.abort())
    await expect(page.locator("#conn-banner")).to_be_visible()
    await assert_dark(page, decoder, "connection lost")


async def test_day_night_and_extra_dim_can_be_pinned_and_auto_comes_back(service: Service, open_page: OpenPage) -> None:
    page = await open_page(url(service, "/?room=one"))
    decoder = await open_page("about:blank")
    theme = page.locator("html")
    menu = page.get_by_role("group", name="Display")

    async def choose(label: str) -> None:
        await page.get_by_role("button", name=re.compile("^Display:")).click()
        await menu.get_by_role("button", name=re.compile(f"^{label}")).click()
        await expect(menu).to_be_hidden()

    await expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
    await expect(theme).to_have_attribute("data-theme", "night")
    # Preparing the room: day, pinned; kept across a reload and when a session starts.
    await choose("Day")
    await expect(theme).to_have_attribute("data-theme", "day")
    await expect(page.get_by_role("button", name="Display: Day")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
    await expect(theme).to_have_attribute("data-theme", "day")
    await start_session(service)
    await expect(page.locator("#phase-name")).to_have_text("arrival")
    await expect(theme).to_have_attribute("data-theme", "day")
    # Night pinned, then extra dim: darker than night, and still red only.
    await choose("Night")
    await expect(theme).to_have_attribute("data-theme", "night")
    night = await assert_dark(page, decoder, "night pinned")
    await choose("Extra dim")
    await expect(theme).to_have_attribute("data-theme", "dim")
    dim = await assert_dark(page, decoder, "extra dim", theme="dim")
    assert dim.mean < 0.7 * night.mean and dim.p99 < 0.7 * night.p99, (night, dim)
    await page.reload()
    await expect(page.locator("#phase-name")).to_have_text("arrival")
    await expect(theme).to_have_attribute("data-theme", "dim")
    # And back to auto: night.
    await choose("Auto")
    await expect(theme).to_have_attribute("data-theme", "night")
    await expect(page.get_by_role("button", name="Display: Night (auto)")).to_be_visible()


async def test_auto_turns_extra_dim_when_the_session_dims_the_room(
    lit_settings: Settings, clock: ManualClock, mosquitto: Mosquitto, open_page: OpenPage
) -> None:
    async with serve_on(lit_settings, clock, free_port()) as service:
        await start_session(service)
        page = await open_page(url(service, "/?room=one"))
        theme = page.locator("html")
        await expect(page.locator("#phase-name")).to_have_text("arrival")
        await expect(theme).to_have_attribute("data-theme", "night")  # arrival: the lights at 40-60 %
        r = await service.client.put("/api/rooms/one/lights", json={"scene": "peak"})  # lamp 8 %, ceiling off
        assert r.status_code == 200, r.text
        await expect(theme).to_have_attribute("data-theme", "dim")
        await expect(page.get_by_role("button", name="Display: Extra dim (auto)")).to_be_visible()
        r = await service.client.put("/api/rooms/one/lights", json={"scene": "onset"})  # lamp 25 %
        assert r.status_code == 200, r.text
        await expect(theme).to_have_attribute("data-theme", "night")


async def test_axe_finds_nothing_in_night_or_day(service: Service, open_page: OpenPage) -> None:
    await session_with_a_due_check(service)
    for theme in ("night", "day"):
        page = await open_page(url(service, "/?room=one"), theme=theme)
        await expect(page.locator("#cue-list li")).to_have_count(1)
        await expect(page.locator("#conn-chip")).to_have_text("Live")
        no_violations(await run_axe(page), f"room view, {theme}")
        for tab in ("Timeline", "Lights", "Notes"):
            await page.get_by_role("tab", name=tab).click()
            if tab == "Timeline":
                await expect(page.locator("#coming-up li").first).to_be_visible()
            no_violations(await run_axe(page), f"{tab} tab, {theme}")
        await page.get_by_role("tab", name="Room").click()
        await page.get_by_role("button", name=re.compile("^Display:")).click()
        no_violations(await run_axe(page), f"display menu, {theme}")
        await page.keyboard.press("Escape")
        await page.get_by_role("button", name="End session…").click()
        await expect(page.get_by_role("dialog")).to_be_visible()
        no_violations(await run_axe(page), f"end dialog, {theme}")
        await page.keyboard.press("Escape")
        await page.get_by_role("button", name="Panic").click()
        await expect(page.locator("#panic-active")).to_be_visible()
        no_violations(await run_axe(page), f"panic, {theme}")
        await page.get_by_role("button", name="Clear and restore the room").click()
        await expect(page.locator("#panic-active")).to_be_hidden()

        overview = await open_page(url(service, "/overview"), theme=theme)
        await expect(overview.locator(".room-card")).to_have_count(2)
        no_violations(await run_axe(overview), f"overview, {theme}")

        other = await open_page(url(service, "/?room=two"), theme=theme)
        await expect(other.get_by_role("heading", name="Start a session")).to_be_visible()
        no_violations(await run_axe(other), f"start screen, {theme}")


async def focused(page: Page) -> dict[str, Any]:
    return dict(
        await page.evaluate("""() => {
        const a = document.activeElement;
        const label = a.getAttribute('aria-label') || (a.labels && a.labels[0] && a.labels[0].textContent)
                      || a.textContent;
        return {id: a.id, name: (label || '').replace(/\\s+/g, ' ').trim(), tag: a.tagName,
                outline: getComputedStyle(a).outlineStyle, inert: !!a.closest('[inert]')};
    }""")
    )


async def test_keyboard_focus_starts_at_panic_and_follows_the_screen(service: Service, open_page: OpenPage) -> None:
    await session_with_a_due_check(service)
    page = await open_page(url(service, "/?room=one"))
    await expect(page.locator("#cue-list li")).to_have_count(1)
    await expect(page.locator("#conn-chip")).to_have_text("Live")

    names = []
    for _ in range(40):
        await page.keyboard.press("Tab")
        f = await focused(page)
        if f["tag"] == "BODY":  # past the last control
            break
        assert f["name"], f"a focusable element without a name: {f}"
        assert f["outline"] != "none", f"no visible focus on {f}"
        names.append(f["name"])
    assert names[0].startswith("Panic"), names
    expected_in_order = [
        "Room",
        "Timeline",
        "Lights",
        "Notes",
        "Display:",
        "All rooms",
        "Acknowledge: Vitals check",
        "Next phase: peak",
        "Hold",
        "+5 min",
        "+15 min",
    ]
    positions = [next((i for i, n in enumerate(names) if n.startswith(e)), -1) for e in expected_in_order]
    assert -1 not in positions, names
    assert positions == sorted(positions), names

    # In a dialog: focus starts on its field (never on the confirming button); the page behind is
    # out of reach, the panic button is not.
    await page.get_by_role("button", name="End session…").click()
    await expect(page.get_by_role("dialog")).to_be_visible()
    first = await focused(page)
    assert first["tag"] in ("INPUT", "TEXTAREA", "BUTTON") and first["name"] != "End session", first
    reached = []
    for _ in range(8):
        await page.keyboard.press("Tab")
        f = await focused(page)
        if f["tag"] == "BODY":
            continue
        assert not f["inert"], f"focus went behind the dialog: {f}"
        reached.append(f["name"])
    assert any(n.startswith("Panic") for n in reached), reached


async def test_every_control_is_a_comfortable_touch_target(service: Service, open_page: OpenPage) -> None:
    await session_with_a_due_check(service)
    for size, viewport in SIZES.items():
        page = await open_page(url(service, "/?room=one"), viewport=viewport)
        await expect(page.locator("#cue-list li")).to_have_count(1)
        small = await page.evaluate("""() => [...document.querySelectorAll('button, a, input, select, textarea')]
            .filter(n => n.getClientRects().length && getComputedStyle(n).visibility !== 'hidden')
            .map(n => ({n: (n.id || n.textContent || n.name || '').trim().slice(0, 40),
                        w: n.getBoundingClientRect().width, h: n.getBoundingClientRect().height}))
            .filter(r => r.w < 48 || r.h < 48)""")
        assert small == [], f"{size}: controls smaller than 48 px: {small}"
        panic = await page.get_by_role("button", name="Panic").bounding_box()
        assert panic is not None and panic["width"] >= 160 and panic["height"] >= 96, (size, panic)
