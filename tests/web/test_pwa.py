"""Installable to the home screen, works from the service alone (no CDN), and keeps the screen
awake during a session."""

from __future__ import annotations

import struct
from urllib.parse import urlsplit

from playwright.async_api import expect

from tests.conftest import Service
from tests.web.conftest import OpenPage, session_command, start_session, url

# Stands in for the Screen Wake Lock API (headless Chromium has no screen to keep awake) and
# records what the page asks of it.
FAKE_WAKE_LOCK = """
window.__wake = {requests: 0, releases: 0, held: false};
Object.defineProperty(navigator, 'wakeLock', {configurable: true, value: {
  request: async (type) => {
    if (type !== 'screen') throw new TypeError('only screen');
    window.__wake.requests += 1; window.__wake.held = true;
    const sentinel = new EventTarget();
    sentinel.type = type; sentinel.released = false;
    sentinel.release = async () => {
      if (sentinel.released) return;
      sentinel.released = true; window.__wake.held = false; window.__wake.releases += 1;
      sentinel.dispatchEvent(new Event('release'));
    };
    return sentinel;
  }}});
"""


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_the_manifest_makes_it_installable(service: Service, open_page: OpenPage) -> None:
    r = await service.client.get("/manifest.webmanifest")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/manifest+json")
    manifest = r.json()
    assert (manifest["start_url"], manifest["display"], manifest["short_name"]) == ("/", "standalone", "Arcroom")
    assert manifest["background_color"] == manifest["theme_color"] == "#000000"  # no white splash screen
    sizes = set()
    for icon in manifest["icons"]:
        got = await service.client.get(icon["src"])
        assert got.status_code == 200, icon
        assert got.headers["content-type"] == icon["type"], icon
        if icon["type"] == "image/png":
            w, h = png_size(got.content)
            assert f"{w}x{h}" == icon["sizes"], icon
            sizes.add(icon["sizes"])
    assert {"192x192", "512x512"} <= sizes

    page = await open_page(url(service, "/?room=one"))
    await expect(page.locator("#start")).to_be_visible()
    cdp = await page.context.new_cdp_session(page)
    app_manifest = await cdp.send("Page.getAppManifest")
    assert app_manifest["url"].endswith("/manifest.webmanifest")
    assert app_manifest["errors"] == [], app_manifest["errors"]


async def test_the_service_worker_takes_the_page_and_leaves_the_api_alone(
    service: Service, open_page: OpenPage
) -> None:
    page = await open_page(url(service, "/?room=one"), service_workers="allow")
    await expect(page.locator("#start")).to_be_visible()
    scope = await page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert urlsplit(scope).path == "/"
    await page.reload()
    await expect(page.locator("#conn-chip")).to_have_text("Live")
    assert await page.evaluate("!!navigator.serviceWorker.controller")
    # The live stream and commands still go straight to the service.
    await start_session(service)
    await expect(page.locator("#phase-name")).to_have_text("arrival")


async def test_everything_comes_from_the_service_itself(service: Service, open_page: OpenPage) -> None:
    await start_session(service)
    page = await open_page("about:blank")
    origins = set()
    page.on("request", lambda req: origins.add(urlsplit(req.url).netloc))
    await page.goto(url(service, "/?room=one"))
    await expect(page.locator("#conn-chip")).to_have_text("Live")
    await page.goto(url(service, "/overview"))
    await expect(page.locator(".room-card")).to_have_count(2)
    assert origins == {urlsplit(url(service)).netloc}, origins


async def test_the_screen_is_kept_awake_only_during_a_session(service: Service, open_page: OpenPage) -> None:
    page = await open_page(url(service, "/?room=one"), init_script=FAKE_WAKE_LOCK)
    await expect(page.locator("#start")).to_be_visible()
    assert await page.evaluate("window.__wake") == {"requests": 0, "releases": 0, "held": False}

    await start_session(service)
    await expect(page.locator("#wake-chip")).to_have_text("Screen stays on")
    assert await page.evaluate("window.__wake.held") is True

    await session_command(service, "/end", {"override_reason": "test"})
    await expect(page.locator("#start")).to_be_visible()
    await expect(page.locator("#wake-chip")).to_be_hidden()
    assert await page.evaluate("window.__wake") == {"requests": 1, "releases": 1, "held": False}
