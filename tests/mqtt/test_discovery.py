"""Home Assistant discovery: each room is a device with a panic button that really panics."""

from __future__ import annotations

import asyncio
import json

import aiomqtt

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import serve
from tests.support import Mosquitto


async def test_rooms_are_announced_to_home_assistant_and_its_button_panics(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with serve(settings, clock) as svc:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as ha:
            await ha.subscribe("homeassistant/+/arcroom_one/+/config")
            configs: dict[str, dict[str, object]] = {}
            async with asyncio.timeout(5):
                async for message in ha.messages:
                    configs[message.topic.value] = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                    if len(configs) == 4:
                        break
            button = configs["homeassistant/button/arcroom_one/panic/config"]
            assert button["command_topic"] == "arcroom/one/panic" and button["payload_press"] == "PRESS"
            assert button["availability_topic"] == "arcroom/status"
            assert button["device"]["identifiers"] == ["arcroom_one"]  # type: ignore[index]
            assert len({c["unique_id"] for c in configs.values()}) == 4
            phase = configs["homeassistant/sensor/arcroom_one/phase/config"]
            assert phase["state_topic"] == "arcroom/one/state"

            # Home Assistant restarting asks for everything again.
            await ha.unsubscribe("homeassistant/+/arcroom_one/+/config")
            await ha.subscribe("homeassistant/button/arcroom_two/panic/config")
            async with asyncio.timeout(5):
                async for message in ha.messages:
                    if not message.retain:
                        break
                    await ha.publish("homeassistant/status", b"online")

            await ha.publish(button["command_topic"], button["payload_press"])  # type: ignore[arg-type]
        async with asyncio.timeout(5):
            while not svc.runtime.rooms["one"].panic_status().active:
                await asyncio.sleep(0.01)
