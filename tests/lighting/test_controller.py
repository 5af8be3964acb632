"""The lighting controller's fades, overrides and re-asserts, on a manual clock.

The link here only records what would be published; tests/lighting/test_lights_mqtt.py runs the
same controller against real Mosquitto and the device simulators.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from app.catalog import load_profiles, load_scenes
from app.domain.clock import ManualClock
from app.domain.light import LightState
from app.domain.rooms import Light, Room
from app.lighting import Lighting
from tests.conftest import T0

ROOT = Path(__file__).resolve().parents[2]
PROFILES = load_profiles(ROOT / "device_profiles")
SCENES = load_scenes(ROOT / "scenes.yaml")


class RecordingLink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, object]]] = []
        self.handlers: dict[str, list[Callable[[str, bytes], None]]] = {}
        self.hooks: list[Callable[[], None]] = []
        self.connected = True

    def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False,
                queue_offline: bool = True) -> None:
        self.sent.append((topic, json.loads(payload)))

    def subscribe(self, topic: str, handler: Callable[[str, bytes], None]) -> None:
        self.handlers.setdefault(topic, []).append(handler)

    def on_connect(self, hook: Callable[[], None]) -> None:
        self.hooks.append(hook)

    def deliver(self, topic: str, payload: str) -> None:
        for handler in self.handlers[topic]:
            handler(topic, payload.encode())


ROOM = Room(id="r", name="R", lights=(
    Light(name="ceiling", profile="zigbee2mqtt", topic="ceil", role="ceiling"),
    Light(name="lamp", profile="shelly_gen1", topic="duo", role="lamp"),  # fades natively up to 5 s only
))


@pytest.fixture
async def lights() -> AsyncIterator[tuple[Lighting, RecordingLink, ManualClock]]:
    link, clock = RecordingLink(), ManualClock(T0)
    lighting = Lighting(link, {"r": ROOM}, PROFILES, SCENES, clock)  # type: ignore[arg-type]
    lighting.attach()
    task = asyncio.create_task(lighting.run())
    yield lighting, link, clock
    task.cancel()


def sent_to(link: RecordingLink, topic: str) -> list[dict[str, object]]:
    return [p for t, p in link.sent if t == topic]


async def test_a_fade_the_device_can_do_is_one_native_command(lights) -> None:  # type: ignore[no-untyped-def]
    lighting, link, clock = lights
    link.deliver("zigbee2mqtt/ceil", '{"state":"ON","brightness":254,"color_temp":250}')
    lighting.apply_scene("r", "onset")  # 300 s: within Zigbee2MQTT's profile maximum
    await clock.advance(400)
    cmds = sent_to(link, "zigbee2mqtt/ceil/set")
    assert cmds == [{"state": "ON", "brightness": 25, "color_temp": 370, "transition": 300.0}]


async def test_a_fade_too_long_for_the_device_is_stepped_at_least_once_a_second(lights) -> None:  # type: ignore[no-untyped-def]
    lighting, link, clock = lights
    link.deliver("shellies/duo/light/0/status", '{"ison":true,"brightness":100,"temp":4000}')
    lighting.apply_scene("r", "onset")  # 300 s, but a Shelly Gen1 fades natively for 5 s at most
    await clock.advance(301)
    cmds = sent_to(link, "shellies/duo/light/0/set")
    assert len(cmds) >= 300
    levels = [c["brightness"] for c in cmds]
    assert levels == sorted(levels, reverse=True)  # only ever dimmer, never a jump back
    assert all(c["transition"] == 1000 for c in cmds[:-1])  # each step glides for one second
    assert cmds[-1]["brightness"] == 25 and cmds[-1]["temp"] == 2700  # clamped to the Duo's range
    # Perceptually even: halfway through, lightness L* is halfway (100 -> 57, so 78.5: 54 %),
    # below the linear halfway point of 62.5 %.
    assert abs(levels[150] - 54) <= 2


async def test_a_new_command_starts_from_where_the_fade_is(lights) -> None:  # type: ignore[no-untyped-def]
    lighting, link, clock = lights
    link.deliver("zigbee2mqtt/ceil", '{"state":"ON","brightness":254}')
    lighting.apply_scene("r", "peak")  # ceiling: off over 600 s
    await clock.advance(200)
    midway = lighting.view("r").lights[0].intended
    assert midway is not None and 0 < midway.level_pct < 100
    lighting.adjust("r", "ceiling", brightness_pct=50, transition_s=10)
    view = lighting.view("r")
    assert view.lights[0].target == LightState(on=True, brightness_pct=50)
    assert view.lights[0].intended == midway  # the new fade starts at the interrupted point
    assert view.override is not None and "ceiling" in view.override.detail


async def test_reassert_sends_the_current_point_not_the_start(lights) -> None:  # type: ignore[no-untyped-def]
    lighting, link, clock = lights
    link.deliver("zigbee2mqtt/ceil", '{"state":"ON","brightness":254}')
    lighting.apply_scene("r", "peak")
    await clock.advance(300)
    expected = lighting.view("r").lights[0].intended
    link.sent.clear()
    for hook in link.hooks:  # what the link does after a reconnect
        hook()
    first, second = sent_to(link, "zigbee2mqtt/ceil/set")[:2]
    assert expected is not None and expected.brightness_pct is not None
    assert first["brightness"] == round(expected.brightness_pct / 100 * 254) and first["transition"] == 0
    assert second == {"state": "OFF", "transition": 300.0}  # and carries on to the target on time


async def test_a_light_coming_back_online_gets_its_intended_state(lights) -> None:  # type: ignore[no-untyped-def]
    lighting, link, clock = lights
    lighting.apply_scene("r", "arrival", transition_s=0)
    link.deliver("zigbee2mqtt/ceil/availability", '{"state":"offline"}')
    assert lighting.view("r").lights[0].online is False
    link.sent.clear()
    link.deliver("zigbee2mqtt/ceil/availability", '{"state":"online"}')
    assert lighting.view("r").lights[0].online is True
    assert sent_to(link, "zigbee2mqtt/ceil/set") == [{"state": "ON", "brightness": 102, "color_temp": 333,
                                                       "transition": 0}]


async def test_reports_confirm_and_malformed_ones_change_nothing(lights) -> None:  # type: ignore[no-untyped-def]
    lighting, link, clock = lights
    lighting.apply_scene("r", "arrival", transition_s=0)
    link.deliver("zigbee2mqtt/ceil", '{"state":"ON","brightness":102,"color_temp":333}')
    before = lighting.view("r").lights[0]
    assert before.confirmed and before.online is None
    for junk in ["{", "[]", '{"state": 7}', '{"brightness": "lots"}', "\u0000"]:
        link.deliver("zigbee2mqtt/ceil", junk)
        link.deliver("zigbee2mqtt/ceil/availability", junk)
    assert lighting.view("r").lights[0] == before


async def test_a_phase_scene_ends_a_manual_override(lights) -> None:  # type: ignore[no-untyped-def]
    lighting, link, clock = lights
    lighting.apply_scene("r", "onset")
    lighting.adjust("r", None, brightness_pct=70)
    assert lighting.has_override("r")
    lighting.apply_scene("r", "peak", source="phase")
    assert not lighting.has_override("r")
    assert lighting.view("r").scene == "peak"
