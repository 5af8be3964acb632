"""Arcroom against a real Home Assistant 2023.12 and a real Mosquitto.

What a clinic's smart-home person relies on: each room appears as a device with its entities and
no discovery warning; a press in Home Assistant panics the room; each command entity changes the
room; a room taken out of the rooms file leaves no entity behind; a killed or hung Arcroom makes
the entities unavailable within seconds; and with Arcroom stopped, the blueprint still lights the
room on a panic.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from app import __version__
from app.domain.clock import ManualClock
from app.mqtt import topics
from app.mqtt.bridge import catalogue_for
from app.mqtt.discovery import discovery_messages
from app.room import RoomChange
from app.settings import Settings
from app.simulators import SimulatedLight
from tests.conftest import Service, serve
from tests.ha.conftest import TWO_ROOMS_YAML, rooms_file
from tests.ha.harness import ArcroomProcess, HomeAssistant
from tests.support import Mosquitto, observer

WITHIN_S = 20


BUTTONS = (
    "panic",
    "clear_panic_restore",
    "clear_panic_hold",
    "hold",
    "resume",
    "advance",
    "music_pause",
    "music_resume",
    "music_skip",
)


def AVAILABLE(state: str) -> bool:
    return state != "unavailable"


async def until(what: str, check: Callable[[], Awaitable[bool]], within_s: float = WITHIN_S) -> float:
    """Wait for `check`; returns how long it took."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within_s:
            raise AssertionError(f"not within {within_s} s: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def has(ha: HomeAssistant, entity_id: str, state: str | Callable[[str], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        value = await ha.state(entity_id)
        return value is not None and (state(value) if callable(state) else value == state)

    return check


def room_entities(states: dict[str, dict[str, Any]], room: str) -> dict[str, dict[str, Any]]:
    return {eid: s for eid, s in states.items() if (s.get("unique_id") or "").startswith(f"arcroom_{room}_")}


async def started(ha: HomeAssistant, svc: Service) -> None:
    """Arcroom connected, and Home Assistant has its room device with the lights heard from."""
    await until("the service online", has(ha, "binary_sensor.arcroom_service_online", "on"))
    await until("the panic button available", has(ha, "button.arcroom_one_panic", AVAILABLE))
    await until("the lamp online", has(ha, "binary_sensor.arcroom_one_light_lamp_online", "on"))


async def test_discovery_makes_each_room_a_device_with_its_entities_and_no_warnings(
    home_assistant: HomeAssistant, ha_settings: Settings, clock: ManualClock, lamp: SimulatedLight
) -> None:
    ha = home_assistant
    async with serve(ha_settings, clock) as svc:
        await started(ha, svc)
        await until("the idle scene shown", has(ha, "sensor.arcroom_one_scene", "idle"))
        states = await ha.states()
        mine = room_entities(states, "one")
        # Every config the service published became an entity (a rejected one would be missing).
        catalogue = catalogue_for(
            svc.runtime.catalog.presets.values(), svc.runtime.catalog.scenes, ha_settings.dashboard_url()
        )
        configs = discovery_messages(svc.runtime.catalog.rooms.values(), catalogue)
        published = {json.loads(payload)["unique_id"] for topic, payload in configs.items() if "/arcroom_one/" in topic}
        assert {s["unique_id"] for s in mine.values()} == published
        expected = {
            "binary_sensor.arcroom_one_panic_active": "off",
            "binary_sensor.arcroom_one_held_after_panic": "off",
            "binary_sensor.arcroom_one_session_running": "off",
            "binary_sensor.arcroom_one_session_held": "off",
            "sensor.arcroom_one_phase": "idle",
            "sensor.arcroom_one_scene": "idle",
            "sensor.arcroom_one_next_cue": "none",
            "sensor.arcroom_one_checks_due": "0",
            "sensor.arcroom_one_now_playing": "none",
            "sensor.arcroom_one_audio": "stopped",
            # No session: nothing to show, so the times are unavailable rather than wrong.
            "sensor.arcroom_one_phase_started": "unavailable",
            "sensor.arcroom_one_phase_ends": "unavailable",
            "sensor.arcroom_one_dose_given": "unavailable",
            "sensor.arcroom_one_next_cue_due": "unavailable",
            "binary_sensor.arcroom_one_light_lamp_online": "on",
            "binary_sensor.arcroom_service_online": "on",
            "binary_sensor.arcroom_service_tasks": "off",
            "sensor.arcroom_service_version": __version__,
        }
        assert {eid: states.get(eid, {}).get("state") for eid in expected} == expected
        # What Home Assistant may do: buttons (their state is the last press), the event entity.
        actions = [f"button.arcroom_one_{b}" for b in BUTTONS] + ["event.arcroom_one_events"]
        assert [eid for eid in actions if not AVAILABLE(states.get(eid, {}).get("state", "unavailable"))] == []
        assert float(states["number.arcroom_one_volume"]["state"]) == 60
        assert states["number.arcroom_one_volume"]["attributes"]["max"] == 70  # the room's ceiling
        # (The enum sensors' `options` are read by Home Assistant 2024.2 and later; 2023.12 drops
        # them without a word, which tests/ha/test_discovery_schema.py accounts for.)
        assert states["sensor.arcroom_one_phase"]["attributes"]["device_class"] == "enum"
        assert states["select.arcroom_one_scene_select"]["state"] == "idle"
        assert "peak" in states["select.arcroom_one_scene_select"]["attributes"]["options"]
        assert set(states["event.arcroom_one_events"]["attributes"]["event_types"]) >= {"cue", "alert", "panic"}
        for diagnostic in (
            "binary_sensor.arcroom_one_light_lamp_online",
            "binary_sensor.arcroom_one_light_lamp_confirmed",
        ):
            assert states[diagnostic]["entity_category"] == "diagnostic"

        devices = {d["name"]: d for d in await ha.devices()}
        room, service = devices["Arcroom Room one"], devices["Arcroom"]
        assert room["via_device_id"] == service["id"]
        assert room["area_id"] == "room_one"  # suggested_area made the area
        assert room["configuration_url"] == "http://arcroom.test:8000/?room=one"


async def test_a_press_in_home_assistant_panics_the_room_and_lights_the_lamp(
    home_assistant: HomeAssistant, ha_settings: Settings, clock: ManualClock, lamp: SimulatedLight
) -> None:
    ha = home_assistant
    async with serve(ha_settings, clock) as svc:
        await started(ha, svc)
        room = svc.runtime.rooms["one"]
        await ha.call("button", "press", entity_id="button.arcroom_one_panic")
        await until("the room in panic", lambda: _true(room.in_panic()))
        assert room.panic_status().by == "mqtt:home-assistant"  # not a wall button's anonymous PRESS
        await until("the lamp at full", lambda: _true(lamp.target.brightness_pct == 100))
        await until("panic active in Home Assistant", has(ha, "binary_sensor.arcroom_one_panic_active", "on"))
        fired = [f for f in await ha.fired() if f["entity_id"] == "event.arcroom_one_events"]
        assert fired[-1]["event_type"] == "panic" and fired[-1]["by"] == "mqtt:home-assistant"


async def _true(value: bool) -> bool:
    return value


async def test_each_command_entity_changes_the_room(
    home_assistant: HomeAssistant, ha_settings: Settings, clock: ManualClock, lamp: SimulatedLight
) -> None:
    ha = home_assistant
    async with serve(ha_settings, clock) as svc:
        await started(ha, svc)
        room = svc.runtime.rooms["one"]
        assert (await svc.client.post("/api/rooms/one/session", json={"preset": "psilocybin"})).status_code == 201
        assert (await svc.client.post("/api/rooms/one/session/dose", json={})).status_code == 200
        await until("onset shown", has(ha, "sensor.arcroom_one_phase", "onset"))
        await until("dose time shown", has(ha, "sensor.arcroom_one_dose_given", lambda s: s.startswith("20")))

        async def press(name: str) -> None:
            await ha.call("button", "press", entity_id=f"button.arcroom_one_{name}")

        def session() -> Any:
            state = room.session()
            assert state is not None
            return state

        # Hold and resume.
        await press("hold")
        await until("held", lambda: _true(session().held))
        await until("held in Home Assistant", has(ha, "binary_sensor.arcroom_one_session_held", "on"))
        await press("resume")
        await until("resumed", lambda: _true(not session().held))

        # Next phase asks first, as the dashboard does: one press arms it, the second advances.
        await press("advance")
        await until("armed", lambda: _fired(ha, "advance_armed"))
        assert session().phase == "onset"
        await press("advance")
        await until("advanced", lambda: _true(session().phase != "onset"))

        # A scene by hand.
        await ha.call("select", "select_option", entity_id="select.arcroom_one_scene_select", option="peak")
        await until("scene peak by hand", lambda: _true(room.lighting().scene == "peak"))
        assert room.lighting().source == "manual"
        await until("scene shown", has(ha, "select.arcroom_one_scene_select", "peak"))

        # Volume, up to the ceiling only.
        await ha.call("number", "set_value", entity_id="number.arcroom_one_volume", value=35)
        await until("volume 35", lambda: _true(room.audio_status().volume_pct == 35))
        await until("volume shown", has(ha, "number.arcroom_one_volume", lambda s: float(s) == 35))

        # The music: pause, resume, skip.
        await until("music playing", lambda: _true(room.audio_status().state == "playing"))
        await press("music_pause")
        await until("paused", lambda: _true(room.audio_status().state == "paused"))
        await until("paused in Home Assistant", has(ha, "sensor.arcroom_one_audio", "paused"))
        await press("music_resume")
        await until("playing again", lambda: _true(room.audio_status().state == "playing"))
        skips = len(_events(svc, "track_skipped"))
        await press("music_skip")
        await until("skipped", lambda: _true(len(_events(svc, "track_skipped")) == skips + 1))

        # A cue fires the event entity (an automation can page a nurse on it).
        next_cue = session().next_cue
        assert next_cue is not None
        phase_before_panic = None
        await clock.advance(next_cue.due_at - clock.now() + 1)
        await until("cue event", lambda: _fired(ha, "cue", label=next_cue.label))
        await until("checks due shown", has(ha, "sensor.arcroom_one_checks_due", lambda s: int(s) >= 1))

        # Panic, then clear it: hold first (stays bright and quiet), then restore.
        phase_before_panic = session().phase
        await press("panic")
        await until("panic", lambda: _true(room.panic_status().mode == "panic"))
        await press("clear_panic_hold")
        await until("held after panic", lambda: _true(room.panic_status().mode == "held"))
        await until("held after panic shown", has(ha, "binary_sensor.arcroom_one_held_after_panic", "on"))
        await press("clear_panic_restore")
        await until("restored", lambda: _true(not room.panic_status().active))
        assert session().phase == phase_before_panic and not session().held

        # A command the room refuses is reported back, not lost.
        await press("resume")
        await until("refused event", lambda: _fired(ha, "refused"))

        # Every command went in the room's log under Home Assistant's name.
        bys = {e.data.get("by") for e in room.store.room_events("one")}
        assert "mqtt:home-assistant" in bys


def _events(svc: Service, type_: str) -> list[Any]:
    return [e for e in svc.runtime.engine.session("one").events() or [] if e.type.value == type_]


async def _fired(ha: HomeAssistant, event_type: str, **attributes: object) -> bool:
    return any(
        f["event_type"] == event_type and all(f.get(k) == v for k, v in attributes.items())
        for f in await ha.fired()
        if f["entity_id"] == "event.arcroom_one_events"
    )


async def test_the_times_are_shown_without_an_update_every_second(
    home_assistant: HomeAssistant, ha_settings: Settings, clock: ManualClock, lamp: SimulatedLight
) -> None:
    ha = home_assistant
    async with serve(ha_settings, clock) as svc:
        await started(ha, svc)
        assert (await svc.client.post("/api/rooms/one/session", json={"preset": "psilocybin"})).status_code == 201
        assert (await svc.client.post("/api/rooms/one/session/dose", json={})).status_code == 200
        await until("phase start shown", has(ha, "sensor.arcroom_one_phase_started", lambda s: s.startswith("20")))
        before = await ha.changes()
        for _ in range(20):  # twenty seconds of a session with its state published again and again
            await clock.advance(1)
            svc.runtime.changes.publish(RoomChange("one", "music", {}))
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)
        after = await ha.changes()
        for name in ("phase_started", "phase_ends", "dose_given", "next_cue_due", "phase"):
            eid = f"sensor.arcroom_one_{name}"
            assert after.get(eid, 0) == before.get(eid, 0), f"{eid} changed while nothing it shows did"


async def test_a_room_taken_out_of_the_rooms_file_leaves_no_entity_behind(
    home_assistant: HomeAssistant, ha_settings: Settings, clock: ManualClock, tmp_path: Path, lamp: SimulatedLight
) -> None:
    ha = home_assistant
    two = ha_settings.model_copy(update={"rooms_file": rooms_file(tmp_path, TWO_ROOMS_YAML)})
    async with serve(two, clock) as svc:
        await started(ha, svc)
        await until("room two's button", has(ha, "button.arcroom_two_panic", AVAILABLE))
    async with serve(ha_settings, clock) as svc:  # room two is gone from the rooms file
        await started(ha, svc)

        async def two_gone() -> bool:
            return not room_entities(await ha.states(), "two")

        await until("room two's entities removed", two_gone)
        assert "Arcroom Room two" not in {d["name"] for d in await ha.devices()}
        assert room_entities(await ha.states(), "one")  # room one's stay


@pytest.fixture
def arcroom_env(ha_settings: Settings, ha_broker: Mosquitto, tmp_path: Path) -> dict[str, str]:
    return {
        "ARCROOM_MQTT_URL": ha_broker.url,
        "ARCROOM_MQTT_CLIENT_ID": ha_settings.mqtt_client_id,
        "ARCROOM_ROOMS_FILE": str(ha_settings.rooms_file),
        "ARCROOM_DATABASE": str(tmp_path / "process.db"),
        "ARCROOM_DEMO_MUSIC_DIR": str(ha_settings.demo_music_dir),
        "ARCROOM_AUDIO_OUTPUT": "dummy",
        "ARCROOM_CONFIG_DIR": "",
    }


async def test_kill_9_makes_the_rooms_entities_unavailable_within_seconds(
    home_assistant: HomeAssistant, arcroom_env: dict[str, str], tmp_path: Path, lamp: SimulatedLight
) -> None:
    ha = home_assistant
    arcroom = ArcroomProcess(tmp_path, arcroom_env)
    arcroom.start()
    try:
        await until("the panic button available", has(ha, "button.arcroom_one_panic", AVAILABLE), within_s=60)
        arcroom.signal(signal.SIGKILL)
        took = await until("unavailable after kill -9", has(ha, "button.arcroom_one_panic", "unavailable"), within_s=5)
        print(f"\nkill -9: entities unavailable after {took * 1000:.0f} ms")
        assert await ha.state("binary_sensor.arcroom_service_online") == "off"
        assert await ha.state("sensor.arcroom_one_phase") == "unavailable"
    finally:
        arcroom.stop()


async def test_a_hung_arcroom_is_unavailable_within_10_s(
    home_assistant: HomeAssistant, arcroom_env: dict[str, str], tmp_path: Path, lamp: SimulatedLight
) -> None:
    """SIGSTOP: the process lives but answers nothing, as a hung service does. The broker gives up
    on it after 1.5 keepalives (3 s, checked at its own pace) and publishes its will."""
    ha = home_assistant
    arcroom = ArcroomProcess(tmp_path, arcroom_env)
    arcroom.start()
    try:
        await until("the panic button available", has(ha, "button.arcroom_one_panic", AVAILABLE), within_s=60)
        arcroom.signal(signal.SIGSTOP)
        took = await until("unavailable while hung", has(ha, "button.arcroom_one_panic", "unavailable"), within_s=10)
        print(f"\nSIGSTOP: entities unavailable after {took:.1f} s")
    finally:
        arcroom.stop()


async def test_the_blueprint_lights_the_room_while_arcroom_is_stopped(
    home_assistant: HomeAssistant,
    ha_settings: Settings,
    now_clock: ManualClock,
    lamp: SimulatedLight,
    ha_broker: Mosquitto,
) -> None:
    ha = home_assistant
    async with serve(ha_settings, now_clock) as svc:
        await started(ha, svc)
        await until("the lamp dimmed to the idle scene", lambda: _true(lamp.target.brightness_pct < 100))
    # Arcroom is stopped: Home Assistant's panic button is unavailable, and its Online sensor off.
    await until("Arcroom offline", has(ha, "binary_sensor.arcroom_service_online", "off"))
    assert await ha.state("button.arcroom_one_panic") == "unavailable"

    async with observer(ha_broker.port) as wall_button:
        await wall_button.publish(topics.for_room(topics.PANIC, "one"), b'{"by": "wall-button"}', qos=1)
        await until("the lamp at full, from Home Assistant", lambda: _true(lamp.target.brightness_pct == 100))
    # The automation left a record for Arcroom: when it is back, the room comes back in panic
    # instead of fading to its dark scene.
    async with serve(ha_settings, now_clock) as svc:
        room = svc.runtime.rooms["one"]
        await until("back in panic", lambda: _true(room.in_panic()))
        assert room.panic_status().by == "mqtt:home-assistant (while Arcroom was down)"
        assert lamp.target.brightness_pct == 100
        fallback = topics.for_room(topics.PANIC_FALLBACK, "one")
        await until("the record cleared", lambda: _no_retained(ha_broker.port, fallback))  # acted on once


async def _no_retained(port: int, topic: str) -> bool:
    """Nothing (or only an empty payload) retained on `topic`."""
    async with observer(port, topic) as watcher:
        try:
            async with asyncio.timeout(0.5):
                async for message in watcher.messages:
                    return not message.payload
        except TimeoutError:
            return True
    return True
