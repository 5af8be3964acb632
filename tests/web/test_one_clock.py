"""One clock: the dashboard shows times in the clinic's zone (ARCROOM_TIMEZONE), as the report does,
whatever zone the tablet itself is set to."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.async_api import Browser, expect

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import Service
from tests.support import free_port
from tests.web.conftest import OpenPage, serve_on, session_command, start_session, url


async def test_the_dashboard_shows_the_clinics_zone_not_the_tablets(
    settings: Settings, clock: ManualClock, browser: Browser, open_page: OpenPage
) -> None:
    clinic = ZoneInfo("Europe/Berlin")
    async with serve_on(settings.model_copy(update={"timezone": "Europe/Berlin"}), clock, free_port()) as service:
        await start_session(service)
        state = await session_command(service, "/dose", {})
        dose_at = datetime.fromtimestamp(state["dose_at"], clinic).strftime("%H:%M")
        tablet_zone = datetime.fromtimestamp(state["dose_at"], ZoneInfo("America/New_York")).strftime("%H:%M")
        assert dose_at != tablet_zone
        context = await browser.new_context(timezone_id="America/New_York", viewport={"width": 1280, "height": 800})
        try:
            page = await open_page(url(service, "/?room=one"), context=context)
            await expect(page.locator("#since-dose-label")).to_contain_text(f"({dose_at})")
            await expect(page.locator("#clock")).to_have_text(
                datetime.fromtimestamp(clock.now(), clinic).strftime("%H:%M")
            )
            overview = await open_page(url(service, "/overview"), context=context)
            await expect(overview.locator(".room-card").first).to_contain_text(f"dose {dose_at}")
        finally:
            await context.close()
        report = (await service.client.get(f"/api/sessions/{state['session_id']}/report?format=json")).json()
        assert dose_at in str(report)


async def test_the_start_screen_asks_for_the_protocol_and_its_menus_are_full_width(
    service: Service, open_page: OpenPage
) -> None:
    page = await open_page(url(service, "/?room=one"), viewport={"width": 390, "height": 844})
    protocol = page.get_by_label("Protocol")
    await expect(protocol).to_have_value("")  # nothing chosen for the facilitator
    await page.get_by_role("button", name="Start session").click()
    await expect(page.locator("#alerts-region")).to_contain_text("Choose the protocol first.")
    assert (await service.client.get("/api/rooms/one/state")).json()["session"] is None
    await protocol.select_option("psilocybin")
    await page.get_by_role("button", name="Start session").click()
    await expect(page.locator("#phase-name")).to_have_text("arrival")
    await page.get_by_role("tab", name="Notes").click()
    menu = await page.locator("#reading-kind").bounding_box()
    frame = await page.locator("#reading-kind").locator("xpath=ancestor::section[1]").bounding_box()
    assert menu is not None and frame is not None and menu["width"] >= frame["width"] * 0.8, (menu, frame)
