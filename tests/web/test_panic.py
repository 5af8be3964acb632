"""The panic button: one tap, no dialog, and the room answers — seen by a real MQTT subscriber
and in the player. The panic banner stays on screen at any scroll position with its Clear
buttons, and counts the lights as they confirm. And when the service is gone: the tablet says
so, and says that a panic tap did not get through."""

from __future__ import annotations

import asyncio
import json

import aiomqtt
from playwright.async_api import Page, expect

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import Service
from tests.support import Mosquitto, free_port, sniffing
from tests.web.conftest import OpenPage, eventually, room_state, serve_on, session_command, start_session, url
from tests.web.geometry import SIZES, controls_under, scroll_main

WAIT_S = 10
PHONE = SIZES["phone"]


async def music_playing(service: Service, room: str = "one") -> None:
    """The session's music plan has started the room's music."""
    music = service.runtime.rooms[room].music.decks
    await eventually(lambda: music.status().state == "playing", "the room's music is playing", WAIT_S)


async def live_room(open_page: OpenPage, service: Service, **kwargs: object) -> Page:
    page = await open_page(url(service, "/?room=one"), **kwargs)
    await expect(page.locator("#conn-chip")).to_have_text("Live")
    return page


async def on_top(page: Page, selector: str) -> bool:
    """Is the element the one a tap at its centre reaches (on screen and covered by nothing)?"""
    return bool(
        await page.evaluate(
            """(sel) => {
        const node = document.querySelector(sel);
        const r = node.getBoundingClientRect();
        const x = r.left + r.width / 2, y = r.top + r.height / 2;
        if (x < 0 || y < 0 || x > innerWidth || y > innerHeight) return false;
        const hit = document.elementFromPoint(x, y);
        return hit === node || node.contains(hit);
    }""",
            selector,
        )
    )


async def test_one_tap_on_panic_lights_the_room_and_pauses_the_music(
    lit_settings: Settings, clock: ManualClock, mosquitto: Mosquitto, light_prefix: str, open_page: OpenPage
) -> None:
    async with serve_on(lit_settings, clock, free_port()) as service, sniffing(mosquitto.port) as sniffer:
        async with asyncio.timeout(WAIT_S):
            await service.runtime.link.wait_connected()
        await start_session(service)
        await session_command(service, "/dose", {})
        await music_playing(service)
        page = await live_room(open_page, service)

        await page.get_by_role("button", name="Panic").click()
        # No confirmation: the room answers straight away.
        await expect(page.get_by_role("dialog")).to_be_hidden()
        for light in ("ceiling", "lamp"):
            command = await sniffer.wait_for(f"zigbee2mqtt/{light_prefix}_{light}/set", state="ON", brightness=254)
            assert command["color_temp"] == 250  # 4000 K: the panic scene
        await eventually(
            lambda: service.runtime.rooms["one"].music.decks.status().state == "paused", "the music paused", WAIT_S
        )

        banner = page.locator("#panic-active")
        await expect(banner).to_be_visible()
        await expect(banner).to_contain_text("Panic sent in")
        await expect(banner).to_contain_text("Music paused.")
        await expect(page.locator("#panic-active-title")).to_contain_text("Panic active since")
        await expect(page.locator("#status-chip")).to_have_text("Panic")
        await expect(page.locator("#panic-result")).to_be_hidden()  # that box is only for a tap that failed
        state = await room_state(service)
        assert state["panic"]["active"] is True and state["session"]["panic"] is True

        # Clearing it is a deliberate choice, without a dialog either; nothing of it stays on screen.
        await page.get_by_role("button", name="Clear and restore the room").click()
        await expect(banner).to_be_hidden()
        await expect(page.locator("body")).not_to_contain_text("confirmed", use_inner_text=True)
        assert (await room_state(service))["panic"]["active"] is False


async def test_the_banner_counts_the_lights_as_they_confirm_and_stays_on_screen_scrolled(
    lit_settings: Settings, clock: ManualClock, mosquitto: Mosquitto, light_prefix: str, open_page: OpenPage
) -> None:
    async with serve_on(lit_settings, clock, free_port()) as service, sniffing(mosquitto.port) as sniffer:
        async with asyncio.timeout(WAIT_S):
            await service.runtime.link.wait_connected()
        await start_session(service)
        await session_command(service, "/dose", {})
        page = await live_room(open_page, service, viewport=PHONE)
        await scroll_main(page, "bottom")  # the phone's room view scrolled all the way down

        await page.get_by_role("button", name="Panic").click()
        report = page.locator("#panic-lights")
        await expect(report).to_have_text("Lights: 0 of 2 confirmed; waiting for: ceiling, lamp.")
        # The Clear buttons are on screen, scrolled as the page is, and nothing lies over them.
        for button in ("#panic-clear-restore", "#panic-clear-hold"):
            await expect(page.locator(button)).to_be_in_viewport()
            assert await on_top(page, button), f"{button} is covered"
        assert await controls_under(page, "#panic") == []

        # The lights answer one by one, as Zigbee2MQTT publishes a device's new state: the count follows.
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
            for n, light in enumerate(("ceiling", "lamp"), start=1):
                command = await sniffer.wait_for(f"zigbee2mqtt/{light_prefix}_{light}/set", state="ON", brightness=254)
                await device.publish(f"zigbee2mqtt/{light_prefix}_{light}", json.dumps(command))
                waiting = "" if n == 2 else "; waiting for: lamp"
                await expect(report).to_have_text(f"Lights: {n} of 2 confirmed{waiting}.")

        # Scrolled back to the top and down again: the banner is still there.
        await scroll_main(page, "top")
        await expect(page.locator("#panic-clear-restore")).to_be_in_viewport()
        await scroll_main(page, "middle")
        await expect(page.locator("#panic-clear-restore")).to_be_in_viewport()

        # Cleared with "hold": still bright and quiet, and still a banner (with the way back).
        await page.get_by_role("button", name="Clear, keep it bright and quiet").click()
        await expect(page.locator("#panic-active-title")).to_contain_text("After the panic")
        await expect(page.locator("#panic-clear-restore")).to_have_text("Restore the room")
        assert await on_top(page, "#panic-clear-restore")
        await page.get_by_role("button", name="Restore the room").click()
        # Bringing a held room back is asked first; Cancel leaves it bright and quiet.
        dialog = page.get_by_role("dialog")
        await expect(dialog).to_contain_text("Restore the room now?")
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(page.locator("#panic-active-title")).to_contain_text("After the panic")
        await page.get_by_role("button", name="Restore the room").click()
        await dialog.get_by_role("button", name="Restore now").click()
        await expect(page.locator("#panic-active")).to_be_hidden()

        # The session ends: nothing of the panic, or of the session, is left on screen.
        await session_command(service, "/end", {"override_reason": "test"})
        await expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
        for gone in ("Panic sent", "confirmed", "Due now", "Playing"):
            await expect(page.locator("body")).not_to_contain_text(gone, use_inner_text=True)


async def test_panic_is_reachable_from_every_screen(service: Service, open_page: OpenPage) -> None:
    page = await open_page(url(service, "/?room=one"))
    panic = page.get_by_role("button", name="Panic")
    # No session yet: the start screen.
    await expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
    await expect(panic).to_be_visible()
    await start_session(service)
    await expect(page.locator("#phase-name")).to_have_text("arrival")
    await expect(panic).to_be_in_viewport()
    # Scrolled to the bottom of the room view, on every tab, and with a confirmation dialog open.
    for tab in ("Timeline", "Lights", "Notes", "Room"):
        await page.get_by_role("tab", name=tab).click()
        await page.mouse.wheel(0, 5000)
        await expect(panic).to_be_in_viewport()
    await page.get_by_role("button", name="End session…").click()
    await expect(page.get_by_role("dialog")).to_be_visible()
    await panic.click()  # not covered by the dialog or its backdrop
    await expect(page.locator("#panic-active")).to_contain_text("Panic sent")
    await expect(page.get_by_role("dialog")).to_be_hidden()  # the panic comes first
    assert (await room_state(service))["panic"]["active"] is True


async def test_a_lost_connection_is_shown_and_a_panic_tap_says_it_did_not_get_through(
    settings: Settings, clock: ManualClock, open_page: OpenPage
) -> None:
    port = free_port()
    async with serve_on(settings, clock, port) as service:
        await start_session(service)
        page = await live_room(open_page, service)
        await expect(page.locator("#conn-banner")).to_be_hidden()
    # The service has stopped.
    banner = page.locator("#conn-banner")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("Connection lost")
    await expect(page.locator("#conn-chip")).to_have_text("Not live")

    await page.get_by_role("button", name="Panic").click()
    result = page.locator("#panic-result")
    await expect(result).to_contain_text("PANIC DID NOT GET THROUGH")
    await expect(result).to_contain_text("cannot reach the Arcroom service")
    await expect(result.get_by_role("button", name="Try panic again")).to_be_visible()

    # The service comes back on the same address: the tablet reconnects by itself.
    async with serve_on(settings, clock, port) as service:
        await expect(page.locator("#conn-chip")).to_have_text("Live", timeout=15_000)
        await expect(banner).to_be_hidden()
        await session_command(service, "/note", {"text": "after the restart"})
        await expect(page.locator("#note-list")).to_contain_text("after the restart")
        # Now the retry gets through: the failure goes, the panic banner says what happened.
        await result.get_by_role("button", name="Try panic again").click()
        await expect(page.locator("#panic-active")).to_contain_text("Panic sent")
        await expect(result).to_be_hidden()
