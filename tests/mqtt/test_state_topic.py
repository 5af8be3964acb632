"""The full service against Mosquitto: each room's retained state topic, and the service's status."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from app.domain.clock import ManualClock
from app.mqtt import bridge
from app.mqtt.link import STATUS_TOPIC
from app.settings import Settings
from tests.conftest import Mosquitto, serve
from tests.support import WAIT_S, next_message, observer, unique

STATE_TOPIC = "arcroom/one/state"


async def retained(port: int, topic: str) -> aiomqtt.Message:
    """What a client that subscribes now is told first: the retained message."""
    async with observer(port, topic) as client:
        message = await next_message(client, topic)
        assert message.retain, f"{topic}: the first message was live, not the retained copy"
        return message


def session_of(message: aiomqtt.Message) -> dict[str, Any] | None:
    state = json.loads(message.payload)  # type: ignore[arg-type]
    assert state["id"] == "one"
    session: dict[str, Any] | None = state["session"]
    return session


async def test_a_fresh_subscriber_gets_the_rooms_current_state_retained(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with serve(settings, clock) as service, observer(mosquitto.port, STATE_TOPIC) as watcher:
        c = service.client
        r = await c.post("/api/rooms/one/session", json={"preset": "psilocybin"})
        assert r.status_code == 201, r.text
        session_id = r.json()["session_id"]
        await clock.advance(15 * 60)
        r = await c.post("/api/rooms/one/session/dose", json={"amount": "25 mg"})
        assert r.status_code == 200, r.text
        assert r.json()["phase"] == "onset"

        # Earlier tests leave their own retained state on this broker: wait for this session's.
        def this_session_in_onset(m: aiomqtt.Message) -> bool:
            s = session_of(m)
            return s is not None and s["session_id"] == session_id and s["phase"] == "onset"

        await next_message(watcher, STATE_TOPIC, this_session_in_onset)

        # A light or a dashboard that connects only now learns it from the broker's retained copy.
        session = session_of(await retained(mosquitto.port, STATE_TOPIC))
        assert session is not None
        assert session["session_id"] == session_id
        assert session["phase"] == "onset"


async def test_status_is_online_while_running_and_offline_after_stopping(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with observer(mosquitto.port, STATUS_TOPIC) as watcher:
        # Forget what earlier tests left retained, so that "online" can only come from this service.
        await watcher.publish(STATUS_TOPIC, b"", qos=1, retain=True)
        async with serve(settings, clock):
            await next_message(watcher, STATUS_TOPIC, lambda m: m.payload == b"online")
            assert (await retained(mosquitto.port, STATUS_TOPIC)).payload == b"online"
        # Said by the service on its way out, while the watcher was still listening.
        await next_message(watcher, STATUS_TOPIC, lambda m: m.payload == b"offline")
    assert (await retained(mosquitto.port, STATUS_TOPIC)).payload == b"offline"


def _rooms_with_a_light(tmp_path: Path, light_topic: str) -> Path:
    path = tmp_path / "rooms-light.yaml"
    path.write_text(
        "rooms:\n"
        "  - id: lit\n"
        "    name: Lit room\n"
        "    audio: {output: dummy}\n"
        f"    lights: [{{name: lamp, profile: zigbee2mqtt, topic: '{light_topic}', role: lamp}}]\n"
    )
    return path


async def test_light_reports_reach_the_state_topic_at_their_own_pace_and_a_panic_at_once(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    light = unique("lamp")
    s = settings.model_copy(update={"rooms_file": _rooms_with_a_light(tmp_path, light)})
    monkeypatch.setattr(bridge, "LIGHTS_STATE_EVERY_S", 3600.0)  # never, within this test
    state_topic = "arcroom/lit/state"

    def brightness(m: aiomqtt.Message) -> int | None:
        reported = json.loads(m.payload)["lighting"]["lights"][0]["reported"]  # type: ignore[arg-type]
        return None if reported is None else int(reported["brightness_pct"])

    async with serve(s, clock) as svc, observer(mosquitto.port, state_topic) as watcher:
        await next_message(watcher, state_topic)  # the state as the service started (retained)
        async with observer(mosquitto.port) as device:
            for level in range(10, 60, 5):
                await device.publish(
                    f"zigbee2mqtt/{light}", json.dumps({"state": "ON", "brightness": level * 254 // 100})
                )
        # The service took the reports in (its API shows the last one) and the broker heard nothing of them.
        async with asyncio.timeout(WAIT_S):
            while (await svc.client.get("/api/rooms/lit/state")).json()["lighting"]["lights"][0]["reported"] is None:
                await asyncio.sleep(0.05)
        r = await svc.client.post("/api/rooms/lit/panic")
        assert r.status_code == 200, r.text
        after = await next_message(watcher, state_topic)
        assert json.loads(after.payload)["panic"]["active"] is True  # type: ignore[arg-type]
        assert brightness(after) is not None  # it carries the lights as they are, reports included


async def test_the_last_light_report_reaches_the_state_topic(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    light = unique("lamp")
    s = settings.model_copy(update={"rooms_file": _rooms_with_a_light(tmp_path, light)})
    monkeypatch.setattr(bridge, "LIGHTS_STATE_EVERY_S", 0.3)
    state_topic = "arcroom/lit/state"
    async with serve(s, clock), observer(mosquitto.port, state_topic) as watcher:
        async with observer(mosquitto.port) as device:
            for level in (20, 30, 40):
                await device.publish(
                    f"zigbee2mqtt/{light}", json.dumps({"state": "ON", "brightness": level * 254 // 100})
                )

        def at_40(m: aiomqtt.Message) -> bool:
            reported = json.loads(m.payload)["lighting"]["lights"][0]["reported"]  # type: ignore[arg-type]
            return reported is not None and round(reported["brightness_pct"]) == 40

        await next_message(watcher, state_topic, at_40)
