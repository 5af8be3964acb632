"""A page from another site, in a real Chromium on the service's own machine, cannot command an open
(loopback, no tokens) service: neither a plain-text form post, nor a no-cors fetch, nor a page
whose name was rebound to 127.0.0.1 (DNS rebinding)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.async_api import async_playwright, expect

from tests.conftest import Service
from tests.support import free_port
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, OpenPage, room_state, start_session


def attacker_page(target: str) -> bytes:
    """What a malicious site would serve: a self-submitting text/plain form, and no-cors fetches."""
    return f"""<!doctype html><html><body>
<form id="f" method="POST" enctype="text/plain" action="{target}/api/rooms/one/session/dose">
  <input name='{{"amount": "' value='evil"}}'>
</form>
<script>
  window.sent = Promise.all([
    fetch("{target}/api/rooms/one/panic", {{method: "POST", mode: "no-cors", body: ""}}),
    fetch("{target}/api/rooms/one/session/hold", {{method: "POST", mode: "no-cors",
      headers: {{"Content-Type": "text/plain"}}, body: "{{}}"}}),
  ]).then(() => "sent", (e) => String(e));
</script></body></html>""".encode()


@pytest.fixture
def evil_site(live_service: Service) -> Iterator[str]:
    """Another origin on this machine (localhost:<other port>) serving the attacker's page."""
    target = str(live_service.client.base_url).rstrip("/")  # http://127.0.0.1:<port>
    page = attacker_page(target)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_cross_site_page_cannot_dose_panic_or_hold(
    live_service: Service, evil_site: str, open_page: OpenPage
) -> None:
    await start_session(live_service)
    page = await open_page(evil_site)
    assert await page.evaluate("window.sent") == "sent"  # the fetches went out (their answers are opaque)
    async with page.expect_navigation():
        await page.evaluate("document.getElementById('f').submit()")
    # The form's answer is a page the browser shows: the refusal, so the request did arrive.
    await expect(page.locator("body")).to_contain_text("cross-site request refused")
    state = await room_state(live_service)
    assert state["panic"]["active"] is False
    assert state["session"]["dose_at"] is None
    assert state["session"]["held"] is False


async def test_a_name_rebound_to_loopback_is_refused(live_service: Service) -> None:
    port = live_service.client.base_url.port
    args = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP rebound.example 127.0.0.1"]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=args, timeout=30_000)
        try:
            page = await browser.new_page()
            response = await page.goto(f"http://rebound.example:{port}/api/rooms")
            assert response is not None and response.status == 400
            await expect(page.locator("body")).to_contain_text("does not answer to the name 'rebound.example'")
            # Same origin as far as the browser knows: the check is the Host, not the Origin.
            status = await page.evaluate("fetch('/api/rooms/one/panic', {method: 'POST'}).then((r) => r.status)")
            assert status == 400
        finally:
            await browser.close()
    assert (await room_state(live_service))["panic"]["active"] is False
