"""Discovery that stays true, and the command topics, against a real Mosquitto and real clients."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from app.domain.clock import ManualClock
from app.mqtt import topics
from app.room import RoomChange
from app.settings import Settings
from tests.conftest import Service, serve
from tests.support import WAIT_S, Mosquitto, next_message, observer, sniffing


async def retained_payload(port: int, topic: str) -> bytes | None:
    """The retained payload on `topic`, or None if there is none (an empty one counts as none)."""
    async with observer(port, topic) as client:
        try:
            async with asyncio.timeout(0.5):
                async for message in client.messages:
                    payload = bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
                    return payload or None
        except TimeoutError:
            return None
    return None  # pragma: no cover


async def until(condition: Any, within_s: float = WAIT_S) -> None:
    async with asyncio.timeout(within_s):
        while not await condition():
            await asyncio.sleep(0.05)


async def publish(port: int, topic: str, payload: bytes, *, retain: bool = False) -> None:
    async with observer(port) as client:
        await client.publish(topic, payload, qos=1, retain=retain)


async def connected(svc: Service) -> None:
    async with asyncio.timeout(WAIT_S):
        await svc.runtime.link.wait_connected()


OLD_RELEASE_CONFIG = {  # what the release before this one published: a single availability_topic
    "name": "Phase",
    "state_topic": "arcroom/gone/state",
    "availability_topic": "arcroom/status",
    "unique_id": "arcroom_gone_phase",
    "device": {"identifiers": ["arcroom_gone"], "name": "Arcroom Gone"},
}
REMOVED_LIGHT_CONFIG = {
    "name": "Light old online",
    "state_topic": "arcroom/one/summary",
    "availability": [{"topic": "arcroom/status"}, {"topic": "arcroom/one/availability"}],
    "availability_mode": "all",
    "unique_id": "arcroom_one_light_old_online",
    "device": {"identifiers": ["arcroom_one"]},
}
FOREIGN_CONFIG = {  # Zigbee2MQTT's: not ours to touch
    "name": None,
    "availability": [{"topic": "zigbee2mqtt/bridge/state"}],
    "command_topic": "zigbee2mqtt/hall/set",
    "unique_id": "0x00158d_light_zigbee2mqtt",
    "device": {"identifiers": ["zigbee2mqtt_0x00158d"]},
}


async def test_configs_this_instance_no_longer_has_are_removed_at_start_up_and_others_kept(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    port = mosquitto.port
    gone = "homeassistant/sensor/arcroom_gone/phase/config"
    removed_light = "homeassistant/binary_sensor/arcroom_one/light_old_online/config"
    foreign = "homeassistant/light/0x00158d/light/config"
    await publish(port, gone, json.dumps(OLD_RELEASE_CONFIG).encode(), retain=True)
    await publish(port, removed_light, json.dumps(REMOVED_LIGHT_CONFIG).encode(), retain=True)
    await publish(port, foreign, json.dumps(FOREIGN_CONFIG).encode(), retain=True)
    await publish(port, "arcroom/gone/state", b'{"id": "gone"}', retain=True)
    try:
        async with serve(settings, clock) as svc:
            await connected(svc)

            async def cleaned() -> bool:
                return (
                    await retained_payload(port, gone) is None
                    and await retained_payload(port, removed_light) is None
                    and await retained_payload(port, "arcroom/gone/state") is None  # the gone room's own topics too
                )

            await until(cleaned)
            assert await retained_payload(port, foreign) is not None
            panic = await retained_payload(port, "homeassistant/button/arcroom_one/panic/config")
            assert panic is not None and json.loads(panic)["command_topic"] == "arcroom/one/panic"
    finally:
        await publish(port, foreign, b"", retain=True)


async def test_discovery_names_the_room_and_links_it_to_the_service(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with serve(settings, clock) as svc:
        await connected(svc)
        raw = await retained_payload(mosquitto.port, "homeassistant/button/arcroom_one/panic/config")
        assert raw is not None
        button = json.loads(raw)
        assert button["qos"] == 1
        assert json.loads(button["payload_press"]) == {"by": "home-assistant"}
        assert button["object_id"] == "arcroom_one_panic" and button["default_entity_id"] == "button.arcroom_one_panic"
        assert button["availability_mode"] == "all"
        assert [a["topic"] for a in button["availability"]] == ["arcroom/status", "arcroom/one/availability"]
        assert button["device"]["via_device"] == "arcroom_service"
        assert button["device"]["suggested_area"] == "Room one"
        assert button["device"]["configuration_url"].endswith("/?room=one")
        assert await retained_payload(mosquitto.port, "arcroom/one/availability") == b"online"


async def test_the_fresh_state_is_published_before_online(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with sniffing(mosquitto.port) as sniffer:
        await asyncio.sleep(0.3)  # the retained copies of earlier runs arrive first, and are set aside
        before = len(sniffer.messages)
        async with serve(settings, clock) as svc:
            await connected(svc)
            await asyncio.sleep(0.3)
        fresh = sniffer.messages[before:]
    order = [
        topic
        for topic, payload in fresh
        if topic in ("arcroom/one/state", "arcroom/one/summary") or (topic == topics.STATUS and payload == "online")
    ]
    assert order.index(topics.STATUS) > order.index("arcroom/one/state")
    assert order.index(topics.STATUS) > order.index("arcroom/one/summary")


async def test_home_assistant_restarting_gets_the_configs_again(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    config = "homeassistant/button/arcroom_two/panic/config"
    async with serve(settings, clock) as svc:
        await connected(svc)

        async def kept() -> bool:
            return await retained_payload(mosquitto.port, config) is not None

        # Subscribed before the broker has the config, an observer would get it as a live (not
        # retained) message: wait until it is kept, as it is when Home Assistant starts later.
        await until(kept)
        async with observer(mosquitto.port, config) as ha:
            await next_message(ha, config, lambda m: m.retain)
            await ha.publish(topics.HA_STATUS, b"online")
            live = await next_message(ha, config, lambda m: not m.retain)
            assert json.loads(live.payload)["unique_id"] == "arcroom_two_panic"  # type: ignore[arg-type]


async def test_a_retained_press_is_ignored_and_cleared_and_a_live_one_panics(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """A button that publishes with retain (a misconfigured one) must not panic the room again on
    every reconnect of the service."""
    panic_topic = "arcroom/one/panic"
    await publish(mosquitto.port, panic_topic, b"PRESS", retain=True)
    async with serve(settings, clock) as svc:
        await connected(svc)
        room = svc.runtime.rooms["one"]

        async def cleared() -> bool:
            return await retained_payload(mosquitto.port, panic_topic) is None

        await until(cleared)
        await asyncio.sleep(0.2)
        assert not room.in_panic()
        assert "retained message on command topic arcroom/one/panic ignored and cleared" in caplog.text

        await publish(mosquitto.port, panic_topic, ('{"by": "' + "b" * 3000 + '"}').encode())
        await until(lambda: _true(room.in_panic()))
        assert room.panic_status().by == "mqtt:" + "b" * 64  # bounded: the state carries a name, not a document


async def _true(value: bool) -> bool:
    return value


async def test_bad_payloads_on_command_topics_are_logged_and_change_nothing(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.mqtt.bridge")
    async with serve(settings, clock) as svc:
        await connected(svc)
        r = await svc.client.post("/api/rooms/one/session", json={"preset": "psilocybin"})
        assert r.status_code == 201
        room = svc.runtime.rooms["one"]
        before = room.session()
        for topic, payload in [
            ("arcroom/one/session/set", b'{"action": "end"}'),
            ("arcroom/one/session/set", b"\xff\xfe"),
            ("arcroom/one/volume/set", b"NaN"),
            ("arcroom/one/scene/set", b'{"scene": []}'),
            ("arcroom/one/music/set", b"x" * 10_000),
            ("arcroom/one/panic/clear/set", b"now"),
            ("arcroom/nowhere/session/set", b"hold"),
        ]:
            await publish(mosquitto.port, topic, payload)
        await until(lambda: _true(caplog.text.count("ignored") >= 7))
        after = room.session()
        assert before is not None and after is not None
        assert (after.phase, after.held, after.event_count) == (before.phase, before.held, before.event_count)
        assert room.audio_status().volume_pct == room.room.audio.volume_pct
        assert "unknown room 'nowhere'" in caplog.text


async def test_commands_change_the_room_and_a_refused_one_is_reported(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with serve(settings, clock) as svc, observer(mosquitto.port, "arcroom/one/event") as ha:
        await connected(svc)
        assert (await svc.client.post("/api/rooms/one/session", json={"preset": "psilocybin"})).status_code == 201
        assert (await svc.client.post("/api/rooms/one/session/dose", json={})).status_code == 200
        room = svc.runtime.rooms["one"]
        await publish(mosquitto.port, "arcroom/one/session/set", b'{"action": "hold", "by": "nurse-station"}')
        await until(lambda: _true(bool(room.session() and room.session().held)))  # type: ignore[union-attr]
        await publish(mosquitto.port, "arcroom/one/session/set", b"hold")  # already held: refused
        refused = await next_message(ha, "arcroom/one/event", lambda m: b'"refused"' in m.payload)  # type: ignore[operator]
        assert "already" in json.loads(refused.payload)["reason"]  # type: ignore[arg-type]
        await publish(mosquitto.port, "arcroom/one/session/set", b"resume")
        await until(lambda: _true(not room.session().held))  # type: ignore[union-attr]
        phase = room.session().phase  # type: ignore[union-attr]
        await publish(mosquitto.port, "arcroom/one/session/set", b'{"action": "advance", "confirm": true}')
        await until(lambda: _true(room.session().phase != phase))  # type: ignore[union-attr]
        await publish(mosquitto.port, "arcroom/one/volume/set", b"99")  # above the ceiling: the ceiling
        await until(lambda: _true(room.audio_status().volume_pct == room.room.audio.volume_ceiling_pct))
        await publish(mosquitto.port, "arcroom/one/talk/set", b'{"on": true, "by": "nurse-station"}')
        await until(lambda: _true(room.audio_status().talking))
        await publish(mosquitto.port, "arcroom/one/talk/set", b"OFF")
        await until(lambda: _true(not room.audio_status().talking))
        # Who did what: the record names the sender of each command.
        session_id = room.session().session_id  # type: ignore[union-attr]
        events = (await svc.client.get(f"/api/sessions/{session_id}/events")).json()
        kinds = ("hold", "resume", "phase_advanced", "volume_set")
        actors = {e["type"]: e["data"].get("by") for e in events if e["type"] in kinds}
        assert actors == {
            "hold": "mqtt:nurse-station",
            "resume": "mqtt",
            "phase_advanced": "mqtt",
            "volume_set": "mqtt",
        }
        talk = [(e["data"]["on"], e["data"]["by"]) for e in events if e["type"] == "talk"]
        assert talk == [(True, "mqtt:nurse-station"), (False, "mqtt")]


async def test_a_panic_home_assistant_handled_while_arcroom_was_down_is_taken_up_once(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    fallback_one = "arcroom/one/panic/fallback"
    fallback_two = "arcroom/two/panic/fallback"
    now = clock.now()
    await publish(
        mosquitto.port, fallback_one, json.dumps({"by": "home-assistant", "at": now - 60}).encode(), retain=True
    )
    await publish(
        mosquitto.port, fallback_two, json.dumps({"by": "home-assistant", "at": now - 86400}).encode(), retain=True
    )
    async with serve(settings, clock) as svc:
        await connected(svc)
        one, two = svc.runtime.rooms["one"], svc.runtime.rooms["two"]
        await until(lambda: _true(one.in_panic()))
        assert one.panic_status().by == "mqtt:home-assistant (while Arcroom was down)"

        async def both_cleared() -> bool:
            return (
                await retained_payload(mosquitto.port, fallback_one) is None
                and await retained_payload(mosquitto.port, fallback_two) is None
            )

        await until(both_cleared)
        assert not two.in_panic()  # a day old: not this session's


async def test_the_service_device_reports_its_health(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with serve(settings, clock) as svc:
        await connected(svc)
        raw = await retained_payload(mosquitto.port, topics.SERVICE_STATE)
        assert raw is not None
        state = json.loads(raw)
        assert state["healthy"] is True and state["failing"] == [] and state["rooms"] == ["one", "two"]
        assert state["broker"] == str(svc.runtime.link.address)


async def test_room_changes_an_automation_can_act_on_are_forwarded_as_events(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    """Cue, alert (raised elsewhere in the room), phase and panic each fire Home Assistant's event entity."""
    async with serve(settings, clock) as svc, observer(mosquitto.port, "arcroom/one/event") as ha:
        await connected(svc)
        svc.runtime.changes.publish(
            RoomChange("one", "alert", {"kind": "vitals_overdue", "message": "m" * 500, "nested": {"x": 1}})
        )
        alert = json.loads((await next_message(ha, "arcroom/one/event")).payload)  # type: ignore[arg-type]
        assert alert["event_type"] == "alert" and alert["kind"] == "vitals_overdue"
        assert len(alert["message"]) == 200 and "nested" not in alert  # plain, bounded attributes
        svc.runtime.changes.publish(RoomChange("one", "lights", {}))  # not an event
        assert (await svc.client.post("/api/rooms/one/panic", json={})).status_code == 200
        panic = json.loads((await next_message(ha, "arcroom/one/event")).payload)  # type: ignore[arg-type]
        assert panic["event_type"] == "panic"
