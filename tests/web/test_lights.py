"""The lights: each light's status as its device reports it over MQTT (on the Lights tab), and
scene and brightness commands from the room view reaching the lights; a manual override offers
the way back to the phase's scene only while there is a phase."""

from __future__ import annotations

import asyncio
import json

import aiomqtt
from playwright.async_api import expect

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.support import Mosquitto, free_port, sniffing
from tests.web.conftest import OpenPage, room_state, serve_on, session_command, start_session, url

WAIT_S = 10


async def test_light_status_and_commands(
    lit_settings: Settings, clock: ManualClock, mosquitto: Mosquitto, light_prefix: str, open_page: OpenPage
) -> None:
    async with serve_on(lit_settings, clock, free_port()) as service, sniffing(mosquitto.port) as sniffer:
        async with asyncio.timeout(WAIT_S):
            await service.runtime.link.wait_connected()
        await start_session(service)
        page = await open_page(url(service, "/?room=one"))
        await expect(page.locator("#conn-chip")).to_have_text("Live")
        await page.get_by_role("tab", name="Lights").click()
        ceiling = page.locator("#light-list li", has_text="ceiling")
        lamp = page.locator("#light-list li", has_text="lamp")
        await expect(ceiling).to_contain_text("Not heard from")
        await expect(ceiling).to_contain_text("no report")

        # The devices speak (as Zigbee2MQTT would): the panel follows.
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
            await device.publish(f"zigbee2mqtt/{light_prefix}_ceiling/availability", json.dumps({"state": "online"}))
            await device.publish(f"zigbee2mqtt/{light_prefix}_ceiling", json.dumps({"state": "ON", "brightness": 102}))
            await device.publish(f"zigbee2mqtt/{light_prefix}_lamp/availability", json.dumps({"state": "offline"}))
        await expect(ceiling.locator(".light-status")).to_have_text("Online")
        await expect(ceiling).to_contain_text("reports 40 %")
        await expect(lamp.locator(".light-status")).to_have_text("Offline")
        await page.get_by_role("tab", name="Room").click()
        await expect(page.locator("#lights-summary")).to_have_text("1 offline")

        # A scene from the tablet: the lights are told, and the button shows which scene is on.
        await page.get_by_role("group", name="Scenes").get_by_role("button", name="peak").click()
        await sniffer.wait_for(f"zigbee2mqtt/{light_prefix}_ceiling/set", state="OFF")
        await sniffer.wait_for(f"zigbee2mqtt/{light_prefix}_lamp/set", state="ON", brightness=20)  # 8 %
        await expect(page.get_by_role("button", name="peak")).to_have_attribute("aria-pressed", "true")

        # Brightness for the whole room: a manual override, with the way back to the phase's scene.
        await page.get_by_role("button", name="Brighter").click()
        await expect(page.locator("#override")).to_be_visible()
        assert (await room_state(service))["lighting"]["override"]["detail"].startswith("all lights: brightness=")
        await page.get_by_role("button", name="Back to the phase's scene").click()
        await expect(page.locator("#override")).to_be_hidden()
        assert (await room_state(service))["lighting"]["override"] is None

        # An override when the session ends: no phase to go back to, so no such offer.
        await page.get_by_role("button", name="Brighter").click()
        await expect(page.locator("#override")).to_be_visible()
        await session_command(service, "/end", {"override_reason": "test"})
        await expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
        await expect(page.get_by_role("button", name="Back to the phase's scene")).to_be_hidden()
