"""The panic button: one tap, no dialog, and the room answers — seen by a real MQTT subscriber
and in the player. And when the service is gone: the tablet says so, and says that a panic
tap did not get through."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Page, expect

from app.audio import FakePlayer
from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import Service
from tests.support import Mosquitto, free_port, sniffing
from tests.web.conftest import OpenPage, eventually, room_state, serve_on, session_command, start_session, url

WAIT_S = 10



async def music_playing(service: Service, room: str = "one") -> Any:
    """The room's audio, playing. With the music engine the session's plan starts it; a bare
    FakePlayer (before the music engine) is told to play."""
    audio = service.runtime.rooms[room].music.decks
    if isinstance(audio, FakePlayer):
        await audio.play("/music/onset/track.ogg")
    await eventually(lambda: audio.status().state == "playing", "the room's music is playing", WAIT_S)
    return audio


async def live_room(open_page: OpenPage, service: Service) -> Page:
    page = await open_page(url(service, "/?room=one"))
    await expect(page.locator("#conn-chip")).to_have_text("Live")
    return page


async def test_one_tap_on_panic_lights_the_room_and_pauses_the_music(
        lit_settings: Settings, clock: ManualClock, mosquitto: Mosquitto, light_prefix: str,
        open_page: OpenPage) -> None:
    async with serve_on(lit_settings, clock, free_port()) as service, sniffing(mosquitto.port) as sniffer:
        async with asyncio.timeout(WAIT_S):
            await service.runtime.link.wait_connected()
        await start_session(service)
        await session_command(service, "/dose", {})
        audio = await music_playing(service)
        page = await live_room(open_page, service)

        await page.get_by_role("button", name="Panic").click()
        # No confirmation: the room answers straight away.
        await expect(page.get_by_role("dialog")).to_be_hidden()
        for light in ("ceiling", "lamp"):
            command = await sniffer.wait_for(f"zigbee2mqtt/{light_prefix}_{light}/set", state="ON", brightness=254)
            assert command["color_temp"] == 250  # 4000 K: the panic scene
        await eventually(lambda: audio.status().state == "paused", "the music paused", WAIT_S)

        result = page.locator("#panic-result")
        await expect(result).to_contain_text("Panic sent in")
        await expect(result).to_contain_text("Music paused.")
        await expect(page.locator("#panic-active")).to_be_visible()
        await expect(page.locator("#panic-active-title")).to_contain_text("Panic active since")
        await expect(page.locator("#status-chip")).to_have_text("Panic")
        state = await room_state(service)
        assert state["panic"]["active"] is True and state["session"]["panic"] is True

        # Clearing it is a deliberate choice, without a dialog either.
        await page.get_by_role("button", name="Clear and restore the room").click()
        await expect(page.locator("#panic-active")).to_be_hidden()
        assert (await room_state(service))["panic"]["active"] is False


async def test_panic_is_reachable_from_every_screen(service: Service, open_page: OpenPage) -> None:
    page = await open_page(url(service, "/?room=one"))
    panic = page.get_by_role("button", name="Panic")
    # No session yet: the start screen.
    await expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
    await expect(panic).to_be_visible()
    await start_session(service)
    await expect(page.locator("#phase-name")).to_have_text("arrival")
    await expect(panic).to_be_in_viewport()
    # Scrolled to the bottom of the room view, and with a confirmation dialog open.
    await page.mouse.wheel(0, 5000)
    await expect(panic).to_be_in_viewport()
    await page.get_by_role("button", name="End session…").click()
    await expect(page.get_by_role("dialog")).to_be_visible()
    await panic.click()  # not covered by the dialog or its backdrop
    await expect(page.locator("#panic-result")).to_contain_text("Panic sent")
    assert (await room_state(service))["panic"]["active"] is True


async def test_a_lost_connection_is_shown_and_a_panic_tap_says_it_did_not_get_through(
        settings: Settings, clock: ManualClock, open_page: OpenPage) -> None:
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
        # Now the retry gets through.
        await result.get_by_role("button", name="Try panic again").click()
        await expect(result).to_contain_text("Panic sent")
