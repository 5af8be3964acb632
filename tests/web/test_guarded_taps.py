"""Controls that a panic refuses are disabled on the tablet with the reason, from the state the
service sends (the same rule as its 409s), and an error left by a refusal goes when its cause does."""

from __future__ import annotations

from playwright.async_api import expect

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.support import free_port
from tests.web.conftest import OpenPage, room_state, serve_on, session_command, start_session, url


async def test_what_a_panic_refuses_is_disabled_with_the_reason_and_comes_back_after(
    lit_settings: Settings, clock: ManualClock, open_page: OpenPage
) -> None:
    async with serve_on(lit_settings, clock, free_port()) as service:
        await start_session(service)
        await session_command(service, "/dose", {})
        page = await open_page(url(service, "/?room=one"))
        await expect(page.locator("#conn-chip")).to_have_text("Live")
        scene = page.locator("#scene-buttons button").first
        pause = page.locator("#play-pause")  # "Pause music", then "Resume music" once the panic paused it
        hold = page.get_by_role("button", name="Hold", exact=True)
        for control in (scene, pause, hold):
            await expect(control).to_be_enabled()

        # A refusal before the state caught up (here: answered by the test) leaves an error on screen.
        await page.route("**/session/hold", lambda route: route.fulfill(status=409, json={"detail": "room is held"}))
        await hold.click()
        await expect(page.locator("#alerts-region")).to_contain_text("Could not hold: room is held")
        await page.unroute("**/session/hold")

        await page.get_by_role("button", name="Panic").click()
        await expect(page.locator("#panic-active")).to_be_visible()
        state = await room_state(service)
        assert set(state["refused"]) == {"hold", "resume", "lights", "music"}
        await expect(pause).to_have_text("Resume music")
        for control in (scene, pause, hold, page.locator("#brightness")):
            await expect(control).to_be_disabled()
        await expect(page.locator("#lights-refused")).to_have_text(
            "In panic: the lights stay at the panic scene until the panic is cleared"
        )
        await expect(page.locator("#music-refused")).to_contain_text("In panic: restore the room")
        await expect(page.locator("#session-refused")).to_contain_text("In panic: the panic has already frozen")
        # The error from before is gone with its cause changed; PANIC's own report stays.
        await expect(page.locator("#alerts-region .toast-error")).to_have_count(0)

        await page.get_by_role("button", name="Clear and restore the room").click()
        await expect(page.locator("#panic-active")).to_be_hidden()
        assert (await room_state(service))["refused"] == {}
        for control in (scene, hold, page.locator("#brightness")):
            await expect(control).to_be_enabled()
        for hint in ("#lights-refused", "#music-refused", "#session-refused"):
            await expect(page.locator(hint)).to_be_hidden()


async def test_the_session_controls_follow_what_the_service_says_it_would_accept(
    lit_settings: Settings, clock: ManualClock, open_page: OpenPage
) -> None:
    async with serve_on(lit_settings, clock, free_port()) as service:
        await start_session(service)
        page = await open_page(url(service, "/?room=one"))
        await expect(page.locator("#conn-chip")).to_have_text("Live")
        advance = page.locator("#advance-button")
        arrival = (await room_state(service))["session"]["commands"]
        assert arrival["advance"] == {
            "allowed": False,
            "needs_override": False,
            "reason": "record the dose to leave arrival",
        }
        await expect(advance).to_be_disabled()
        await expect(page.locator("#advance-hint")).to_have_text("Record the dose to leave arrival.")
        await expect(page.locator("#dose-button")).to_be_visible()

        await session_command(service, "/dose", {})
        await expect(advance).to_be_enabled()
        await expect(page.locator("#advance-hint")).to_be_hidden()
        await expect(page.locator("#dose-button")).to_be_hidden()
        dosed = (await room_state(service))["session"]["commands"]
        assert dosed["advance"]["allowed"] and not dosed["dose"]["allowed"]
