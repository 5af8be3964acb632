"""Where things are on screen: the visible boxes of controls, for "does X cover a control?" checks."""

from __future__ import annotations

from typing import Any, TypedDict

from playwright.async_api import Page

SIZES = {
    "tablet landscape": {"width": 1280, "height": 800},
    "tablet portrait": {"width": 800, "height": 1280},
    "phone": {"width": 390, "height": 844},
}


class Box(TypedDict):
    name: str
    x: float
    y: float
    w: float
    h: float


# The part of each element that can be seen: its box cut to the viewport and to every ancestor that
# clips (a scrolling <main>), so a control scrolled out of sight is not "under" anything.
VISIBLE_BOXES_JS = """(selector) => {
  const clipOf = (node) => {
    let r = {x0: 0, y0: 0, x1: innerWidth, y1: innerHeight};
    for (let a = node.parentElement; a; a = a.parentElement) {
      const cs = getComputedStyle(a);
      if (cs.overflowX !== 'visible' || cs.overflowY !== 'visible') {
        const b = a.getBoundingClientRect();
        r = {x0: Math.max(r.x0, b.left), y0: Math.max(r.y0, b.top), x1: Math.min(r.x1, b.right), y1: Math.min(r.y1, b.bottom)};
      }
      if (cs.position === 'fixed') break;
    }
    return r;
  };
  const out = [];
  for (const node of document.querySelectorAll(selector)) {
    if (!node.getClientRects().length || node.closest('[hidden]')) continue;
    const cs = getComputedStyle(node);
    if (cs.visibility === 'hidden' || cs.display === 'none') continue;
    const b = node.getBoundingClientRect();
    const c = clipOf(node);
    const x0 = Math.max(b.left, c.x0), y0 = Math.max(b.top, c.y0), x1 = Math.min(b.right, c.x1), y1 = Math.min(b.bottom, c.y1);
    if (x1 - x0 < 1 || y1 - y0 < 1) continue;
    const name = (node.getAttribute('aria-label') || node.textContent || node.id || node.tagName).replace(/\\s+/g, ' ').trim();
    out.push({name: `${node.tagName.toLowerCase()}#${node.id} "${name.slice(0, 40)}"`, x: x0, y: y0, w: x1 - x0, h: y1 - y0});
  }
  return out;
}"""

CONTROLS = "button, a[href], input, select, textarea, [role=tab], output"


async def visible_boxes(page: Page, selector: str) -> list[Box]:
    return list(await page.evaluate(VISIBLE_BOXES_JS, selector))


def overlap(a: Box, b: Box) -> float:
    """Area (px²) that two boxes share."""
    w = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return max(0.0, w) * max(0.0, h)


async def controls_under(page: Page, cover_selector: str) -> list[str]:
    """Every visible control (outside `cover_selector`) that shares screen area with it."""
    covers = await visible_boxes(page, cover_selector)
    controls = await visible_boxes(page, f":is({CONTROLS}):not(:is({cover_selector}) *):not(:is({cover_selector}))")
    return [f"{c['name']} under {k['name']}" for k in covers for c in controls if overlap(k, c) > 1]


async def scroll_main(page: Page, where: str) -> None:
    """Scroll the room page's scrolling part to its top, middle or bottom."""
    await page.evaluate(
        """(where) => {
        const m = document.querySelector('main');
        const max = m.scrollHeight - m.clientHeight;
        m.scrollTop = where === 'top' ? 0 : where === 'middle' ? max / 2 : max;
    }""",
        where,
    )
    await page.wait_for_timeout(50)


async def main_overflow_px(page: Page) -> Any:
    """How far the room page's scrolling part reaches past what it shows (0: nothing to scroll)."""
    return await page.evaluate(
        "() => { const m = document.querySelector('main'); return m.scrollHeight - m.clientHeight; }"
    )
