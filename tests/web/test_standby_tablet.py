"""The tablet follows the rooms: two instances on one PostgreSQL and one Mosquitto, the dashboard
open on the leader; the leader killed (kill -9), a PANIC tapped on its page at once lights the room
through the other instance, and the page moves by itself to the instance that answers, signed in
with the same token, and shows the room (in panic) live from there; the clinic overview likewise."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from pathlib import Path

import httpx
from playwright.async_api import expect

from tests.drills.test_service_kill import lamp, until
from tests.drills.test_standby import TAKEOVER_S, health, lamp_room, leads, pair
from tests.support import CLIENT_LIMITS, Mosquitto, Postgres, unique
from tests.web.conftest import WAIT_MS, OpenPage

# The page notices after two missed heartbeats (4 s each) and a probe; the takeover itself takes
# under TAKEOVER_S. Bounded, so a page that never moves fails.
MOVED_WITHIN_MS = 20_000


async def test_the_dashboard_moves_to_the_instance_that_answers_when_its_own_dies(
    tmp_path: Path, mosquitto: Mosquitto, demo_music: Path, postgres: Postgres, open_page: OpenPage
) -> None:
    token = secrets.token_urlsafe(24)
    lamp_topic = unique("tablet")
    a, b = pair(tmp_path, mosquitto, demo_music, postgres, lamp_room(lamp_topic))
    for service in (a, b):
        service.env["ARCROOM_TOKENS"] = json.dumps([{"name": "tablet", "role": "therapist", "token": token}])
    auth = {"Authorization": f"Bearer {token}"}
    async with (
        lamp(mosquitto, lamp_topic) as light,
        httpx.AsyncClient(timeout=10, limits=CLIENT_LIMITS, headers=auth) as c,
    ):
        try:
            a.start()
            await leads(c, a)
            b.start()
            # The leader learns where the standby answers from the database (its lease renewals).
            async with asyncio.timeout(10):
                while len((seen := await health(c, a))["instances"]) < 2:
                    await asyncio.sleep(0.1)
            assert {i["instance"]: i["address"] for i in seen["instances"]} == {"a": a.url, "b": b.url}, seen
            r = await c.post(f"{a.url}/api/rooms/one/session", json={"preset": "psilocybin"})
            assert r.status_code == 201, r.text

            # Signed in on the leader's address only: the other address has no token of its own.
            signed_in = f"if (location.origin === {a.url!r}) localStorage.setItem('arcroom.token', {token!r});"
            page = await open_page(f"{a.url}/?room=one", init_script=signed_in)
            overview = await open_page(f"{a.url}/overview", init_script=signed_in)
            await expect(page.locator("#conn-chip")).to_have_text("Live")
            await expect(page.locator("#audio-players")).to_contain_text("Played by instance a")
            await expect(overview.locator(".room-card", has_text="Room one")).to_be_visible()
            # Each page has learnt where the other instance answers (and keeps it on the tablet).
            for p in (page, overview):
                await p.wait_for_function(
                    f"(localStorage.getItem('arcroom.instances') || '').includes({b.url!r})", timeout=WAIT_MS
                )

            a.kill9()
            killed_at = time.monotonic()
            # PANIC tapped at once, on the page of the instance that is gone: the other one lights the room.
            await page.get_by_role("button", name="Panic").click()
            await until(lambda: light.state().brightness_pct == 100, "the lamp at 100 % through the other instance")
            print(
                f"the panic tapped on the dead instance's page lit the lamp {time.monotonic() - killed_at:.2f} s after"
            )
            await expect(page.locator("#panic-result")).to_be_hidden()  # shown only for a tap that failed
            # The overview's panic goes through the other instance too.
            await overview.get_by_role("button", name="Panic in Room one").click()
            card = overview.locator(".room-card", has_text="Room one")
            await expect(card.locator(".room-panic-result")).to_contain_text("Panic sent")
            assert await leads(c, b) <= TAKEOVER_S
            await page.wait_for_url(re.compile(rf"^{re.escape(b.url)}/\?room=one$"), timeout=MOVED_WITHIN_MS)
            print(f"the page moved to the other instance {time.monotonic() - killed_at:.1f} s after the kill")
            await expect(page.locator("#conn-chip")).to_have_text("Live")
            await expect(page.locator("#panic-active")).to_be_visible()  # the new leader took the panic up
            await expect(page.locator("#audio-players")).to_contain_text("Played by instance b")
            # The token came along, and is this address's own now: not left in the address bar.
            assert await page.evaluate("localStorage.getItem('arcroom.token')") == token
            assert "arcroom-token" not in page.url
            assert await page.locator("#signin").is_hidden()
            # The overview follows as well.
            await overview.wait_for_url(f"{b.url}/overview", timeout=MOVED_WITHIN_MS)
            await expect(overview.locator(".room-card", has_text="Room one")).to_contain_text("PANIC")
        finally:
            a.stop()
            b.stop()
