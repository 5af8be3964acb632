"""The full service against Mosquitto: each room's retained state topic, and the service's status."""

from __future__ import annotations

import json
from typing import Any

import aiomqtt

from app.domain.clock import ManualClock
from app.mqtt.link import STATUS_TOPIC
from app.settings import Settings
from tests.conftest import Mosquitto, serve
from tests.support import next_message, observer

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
