"""Two Arcroom instances on one broker (a staging box started against the clinic's broker): the
second is refused, names the first, and never tells the lights anything; the first runs on."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from app.domain.clock import ManualClock
from app.mqtt.instances import CLAIM_TOPIC
from app.settings import Settings
from tests.conftest import serve
from tests.support import WAIT_S, Mosquitto, sniffing, unique

LIGHTS = """\
rooms:
  - id: one
    name: Room one
    audio: {{output: dummy}}
    lights:
      - {{name: lamp, profile: zigbee2mqtt, topic: {topic}, role: lamp}}
"""


async def test_a_second_instance_for_the_same_room_is_refused_naming_the_first(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    topic = unique("inst")
    rooms = settings.rooms_file.parent / "rooms-instances.yaml"
    rooms.write_text(LIGHTS.format(topic=topic))
    first = settings.model_copy(
        update={"rooms_file": rooms, "mqtt_client_id": unique("arcroom-first"), "mqtt_claim_wait_ms": 300}
    )
    second = first.model_copy(update={"mqtt_client_id": unique("arcroom-second")})
    async with serve(first, clock) as one:
        async with asyncio.timeout(WAIT_S):
            await one.runtime.link.wait_connected()
        assert (await one.client.post("/api/rooms/one/panic")).status_code == 200
        async with sniffing(mosquitto.port) as sniffer:
            await asyncio.sleep(0.2)
            seen = len(sniffer.messages)
            async with serve(second, clock) as two:
                async with asyncio.timeout(WAIT_S):
                    while "already run" not in str(health := (await two.client.get("/api/health")).json()):
                        await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)
                assert health["status"] == "degraded"
                (problem,) = health["problems"]
                assert problem.startswith(
                    f"room(s) one are already run by another Arcroom instance ({first.mqtt_client_id} on host "
                )
                assert problem.endswith("this one has left the broker; stop one of the two")
                assert not two.runtime.link.connected
                # The second said who it is and nothing else: no light command, no idle room state.
                # (The first says its retained state again, in case anything overwrote it.)
                said = sniffer.messages[seen:]
                assert not [t for t, _ in said if t.startswith(f"zigbee2mqtt/{topic}")], said
                states = [json.loads(p) for t, p in said if t == "arcroom/one/state"]
                assert states and all(s["panic"]["active"] for s in states)
                claims = [json.loads(p) for t, p in said if t == CLAIM_TOPIC]
                assert [(c["id"], c["answer"]) for c in claims] == [
                    (second.mqtt_client_id, False),
                    (first.mqtt_client_id, True),
                ]
        # The first runs on: still in panic, still connected, healthy, and it said what happened.
        assert one.runtime.link.connected and one.runtime.rooms["one"].in_panic()
        assert (await one.client.get("/api/health")).json()["status"] == "ok"
        warned = [
            r for r in caplog.records if r.levelno == logging.WARNING and "tried to run room(s) one" in r.getMessage()
        ]
        assert len(warned) == 1


async def test_an_instance_for_other_rooms_on_the_same_broker_is_welcome(
    settings: Settings, clock: ManualClock
) -> None:
    other_rooms = settings.rooms_file.parent / "rooms-other.yaml"
    other_rooms.write_text("rooms:\n  - id: three\n    name: Room three\n    audio: {output: dummy}\n")
    first = settings.model_copy(update={"mqtt_client_id": unique("arcroom-a"), "mqtt_claim_wait_ms": 300})
    second = first.model_copy(update={"mqtt_client_id": unique("arcroom-b"), "rooms_file": other_rooms})
    async with serve(first, clock) as one, serve(second, clock) as two:
        async with asyncio.timeout(WAIT_S):
            await one.runtime.link.wait_connected()
            await two.runtime.link.wait_connected()
        await asyncio.sleep(0.5)
        assert one.runtime.link.connected and two.runtime.link.connected
        assert (await two.client.get("/api/health")).json()["problems"] == []
