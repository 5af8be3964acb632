"""What the room sees and what every facilitator can use: night mode's low luminance (dialogs
included), day mode, and an accessibility pass — axe-core's WCAG A/AA rules (labels, names,
contrast) in both modes, and the keyboard focus order."""

from __future__ import annotations

import base64
import re
from typing import Any

from playwright.async_api import Page, expect

from tests.conftest import Service
from tests.web.conftest import OpenPage, no_violations, run_axe, session_command, start_session, url

MIN = 60.0
# White is 1.0. Night mode's brightest colour (its strongest text) is about 0.32; nothing may pass this.
NIGHT_MAX_LUMINANCE = 0.35
# ...and the screen as a whole stays dark: mostly black, a little dim text.
NIGHT_MAX_MEAN_LUMINANCE = 0.04

# Relative luminance (WCAG) of every colour an element paints with, for every visible element.
BRIGHT_COLOURS_JS = """(limit) => {
  const lin = c => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const lum = s => {
    const m = s.match(/rgba?\\(([\\d.]+),\\s*([\\d.]+),\\s*([\\d.]+)(?:,\\s*([\\d.]+))?/);
    if (!m || (m[4] !== undefined && Number(m[4]) === 0)) return 0;
    return 0.2126 * lin(+m[1]) + 0.7152 * lin(+m[2]) + 0.0722 * lin(+m[3]);
  };
  const out = [];
  for (const node of document.querySelectorAll('*')) {
    const r = node.getBoundingClientRect();
    const cs = getComputedStyle(node);
    if (!r.width || !r.height || cs.visibility === 'hidden' || node.closest('[hidden]')) continue;
    const props = ['color', 'background-color', 'border-top-color', 'border-bottom-color', 'outline-color'];
    for (const p of props) {
      if (p.startsWith('border') && cs[p.replace('-color', '-width').replace(/-([a-z])/g, (_, c) => c.toUpperCase())] === '0px') continue;
      if (p === 'outline-color' && cs.outlineStyle === 'none') continue;
      const L = lum(cs.getPropertyValue(p));
      if (L > limit) out.push(`${node.tagName.toLowerCase()}#${node.id}.${node.className} ${p}=${cs.getPropertyValue(p)} L=${L.toFixed(2)}`);
    }
  }
  return out;
}"""

# Decode a screenshot in the browser itself and measure it.
PIXELS_JS = """async (b64) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.width; c.height = img.height;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  const lin = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const table = Array.from({length: 256}, (_, i) => lin(i));
  let max = 0, sum = 0;
  for (let i = 0; i < d.length; i += 4) {
    const L = 0.2126 * table[d[i]] + 0.7152 * table[d[i + 1]] + 0.0722 * table[d[i + 2]];
    sum += L; if (L > max) max = L;
  }
  return {max, mean: sum / (d.length / 4)};
}"""


async def luminance_of_screen(page: Page, scratch: Page) -> dict[str, float]:
    png = await page.screenshot(full_page=True)
    return dict(await scratch.evaluate(PIXELS_JS, base64.b64encode(png).decode()))


async def assert_dark(page: Page, scratch: Page, where: str) -> None:
    assert await page.evaluate("document.documentElement.dataset.theme") == "night", where
    bright = await page.evaluate(BRIGHT_COLOURS_JS, NIGHT_MAX_LUMINANCE)
    assert bright == [], f"{where}: colours too bright for a dark room: {bright[:10]}"
    measured = await luminance_of_screen(page, scratch)
    assert measured["max"] <= NIGHT_MAX_LUMINANCE, f"{where}: brightest pixel {measured}"
    assert measured["mean"] <= NIGHT_MAX_MEAN_LUMINANCE, f"{where}: screen too bright overall {measured}"


async def session_with_a_due_check(service: Service) -> None:
    await start_session(service, client_label="P-3")
    await session_command(service, "/dose", {"amount": "25 mg"})
    await service.clock.advance(61 * MIN)  # vitals@60 is due


async def test_night_mode_is_the_default_in_a_session_and_keeps_everything_dim(
        service: Service, open_page: OpenPage) -> None:
    await session_with_a_due_check(service)
    page = await open_page(url(service, "/?room=one"))
    scratch = await open_page("about:blank")
    await expect(page.locator("#cue-list li")).to_have_count(1)
    await expect(page.locator("#conn-chip")).to_have_text("Live")
    await assert_dark(page, scratch, "room view")

    # A dialog, with its backdrop, a text field and the focus ring.
    await page.get_by_role("button", name="End session…").click()
    await expect(page.get_by_role("dialog")).to_be_visible()
    await page.keyboard.press("Tab")
    await assert_dark(page, scratch, "end dialog")
    await page.keyboard.press("Escape")

    # The outcome of a panic, and the panic banner.
    await page.get_by_role("button", name="Panic").click()
    await expect(page.locator("#panic-result")).to_contain_text("Panic sent")
    await expect(page.locator("#panic-active")).to_be_visible()
    await assert_dark(page, scratch, "panic")


async def test_night_mode_on_the_sign_in_start_and_lost_connection_screens(
        service: Service, open_page: OpenPage) -> None:
    page = await open_page(url(service, "/?room=one"), theme="night")
    scratch = await open_page("about:blank")
    await expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
    await assert_dark(page, scratch, "start screen")
    await page.route("**/api/health", lambda route: route.abort())  # the service stops answering
    await expect(page.locator("#conn-banner")).to_be_visible()
    await assert_dark(page, scratch, "connection lost")


async def test_day_mode_for_preparation_and_the_tablets_choice_is_kept(service: Service,
                                                                      open_page: OpenPage) -> None:
    page = await open_page(url(service, "/?room=one"))
    theme = page.locator("html")
    # No session: preparation, in day mode.
    await expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
    await expect(theme).to_have_attribute("data-theme", "day")
    # A session starts: night, by itself.
    await start_session(service)
    await expect(theme).to_have_attribute("data-theme", "night")
    # The facilitator wants day mode during this session: kept across a reload.
    toggle = page.get_by_role("button", name=re.compile("^Display: Night"))
    await toggle.click()
    await expect(theme).to_have_attribute("data-theme", "day")
    await page.reload()
    await expect(page.locator("#phase-name")).to_have_text("arrival")
    await expect(theme).to_have_attribute("data-theme", "day")
    # And back to automatic.
    await page.get_by_role("button", name=re.compile("^Display: Day")).click()
    await expect(theme).to_have_attribute("data-theme", "night")
    await expect(page.get_by_role("button", name="Display: Night (auto)")).to_be_visible()


async def test_axe_finds_nothing_in_night_or_day(service: Service, open_page: OpenPage) -> None:
    await session_with_a_due_check(service)
    for theme in ("night", "day"):
        page = await open_page(url(service, "/?room=one"), theme=theme)
        await expect(page.locator("#cue-list li")).to_have_count(1)
        await expect(page.locator("#conn-chip")).to_have_text("Live")
        await expect(page.locator("#coming-up li").first).to_be_visible()
        no_violations(await run_axe(page), f"room view, {theme}")
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
    return dict(await page.evaluate("""() => {
        const a = document.activeElement;
        const label = a.getAttribute('aria-label') || (a.labels && a.labels[0] && a.labels[0].textContent)
                      || a.textContent;
        return {id: a.id, name: (label || '').replace(/\\s+/g, ' ').trim(), tag: a.tagName,
                outline: getComputedStyle(a).outlineStyle, inert: !!a.closest('[inert]')};
    }"""))


async def test_keyboard_focus_starts_at_panic_and_follows_the_screen(service: Service, open_page: OpenPage) -> None:
    await session_with_a_due_check(service)
    page = await open_page(url(service, "/?room=one"))
    await expect(page.locator("#cue-list li")).to_have_count(1)
    await expect(page.locator("#conn-chip")).to_have_text("Live")

    names = []
    for _ in range(30):
        await page.keyboard.press("Tab")
        f = await focused(page)
        if f["tag"] == "BODY":  # past the last control
            break
        assert f["name"], f"a focusable element without a name: {f}"
        assert f["outline"] != "none", f"no visible focus on {f}"
        names.append(f["name"])
    assert names[0].startswith("Panic"), names
    expected_in_order = ["Display:", "All rooms", "Acknowledge: Vitals check", "Next phase: peak", "Hold",
                         "+5 min", "+15 min"]
    positions = [next((i for i, n in enumerate(names) if n.startswith(e)), -1) for e in expected_in_order]
    assert -1 not in positions, names
    assert positions == sorted(positions), names

    # In a dialog: focus starts on its field (never on the confirming button); the page behind is
    # out of reach, the panic button is not.
    await page.get_by_role("button", name="Record dose…").or_(page.get_by_role("button", name="End session…")).first.click()
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
    for size in ({"width": 1280, "height": 800}, {"width": 800, "height": 1280}):
        page = await open_page(url(service, "/?room=one"), viewport=size)
        await expect(page.locator("#cue-list li")).to_have_count(1)
        small = await page.evaluate("""() => [...document.querySelectorAll('button, a, input, select, textarea')]
            .filter(n => n.getClientRects().length && getComputedStyle(n).visibility !== 'hidden')
            .map(n => ({n: (n.id || n.textContent || n.name || '').trim().slice(0, 40),
                        w: n.getBoundingClientRect().width, h: n.getBoundingClientRect().height}))
            .filter(r => r.w < 48 || r.h < 48)""")
        assert small == [], f"{size}: controls smaller than 48 px: {small}"
        panic = await page.get_by_role("button", name="Panic").bounding_box()
        assert panic is not None and panic["width"] >= 160 and panic["height"] >= 96, panic
