"""How bright the screen is: the luma of every pixel of a screenshot, its mean and 99th percentile.

Luma is ITU-R BT.601 on the 8-bit sRGB values, 0 (black) to 255 (white): Y = 0.299 R + 0.587 G +
0.114 B, as Pillow's "L" mode computes it. The PNG is decoded by Chromium itself (drawn on a canvas
in a blank page), so measuring needs nothing beyond the browser the tests already drive.

The bounds are the figures `docs/screenshots.py` measured on the README's night screenshots (the room
view and the panic banner at each screen size, and the overview): the browser tests hold every night
state of the dashboard, at each size, to the highest figures of that size's screenshots.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from playwright.async_api import Page

# Viewport -> (mean, 99th percentile): the highest of that size's night screenshots, as
# `.venv/bin/python docs/screenshots.py` prints them (and the README quotes them).
NIGHT_BOUNDS: dict[str, tuple[float, int]] = {
    "1280x800": (9.3, 76),
    "800x1280": (8.9, 76),
    "390x844": (12.8, 76),
}

LUMA_JS = """async (b64) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.width; c.height = img.height;
  const g = c.getContext('2d', {colorSpace: 'srgb'});
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  const hist = new Array(256).fill(0);
  let sum = 0;
  for (let i = 0; i < d.length; i += 4) {
    const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    sum += y;
    hist[Math.round(y)] += 1;
  }
  const n = d.length / 4;
  let seen = 0, p99 = 255, max = 0;
  for (let v = 0; v < 256; v += 1) {
    if (hist[v]) max = v;
    seen += hist[v];
    if (p99 === 255 && seen >= 0.99 * n) p99 = v;
  }
  return {mean: sum / n, p99, max, width: c.width, height: c.height};
}"""


@dataclass(frozen=True)
class Luma:
    mean: float
    p99: int
    max: int

    def __str__(self) -> str:
        return f"mean {self.mean:.1f}, 99th percentile {self.p99}, max {self.max} (of 255)"


async def luma_of_png(decoder: Page, png: bytes) -> Luma:
    """Measure a PNG; `decoder` is any page (a blank one will do) that draws it."""
    r = await decoder.evaluate(LUMA_JS, base64.b64encode(png).decode())
    return Luma(mean=float(r["mean"]), p99=int(r["p99"]), max=int(r["max"]))


async def screen_luma(page: Page, decoder: Page) -> Luma:
    """What `page` shows in its viewport now."""
    return await luma_of_png(decoder, await page.screenshot())
