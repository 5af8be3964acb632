"""A room's lights: fades, direct sends, reports and re-asserts, on a manual clock.

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
from app.lighting import RoomLights
from tests.conftest import T0

ROOT = Path(__file__).resolve().parents[2]
PROFILES = load_profiles(ROOT / "device_profiles")
SCENES = load_scenes(ROOT / "scenes.yaml")


class RecordingLink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, object]]] = []
        self.handlers: dict[str, list[Callable[[str, bytes, bool], None]]] = {}
        self.hooks: list[Callable[[], None]] = []
        self.connected = True

    def publish(
        self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False, queue_offline: bool = True
    ) -> None:
        text = payload if isinstance(payload, str) else payload.decode()
        self.sent.append((topic, json.loads(text) if text.startswith("{") else {"raw": text}))

    def subscribe(self, topic: str, handler: Callable[[str, bytes, bool], None]) -> None:
        self.handlers.setdefault(topic, []).append(handler)

    def on_connect(self, hook: Callable[[], None]) -> None:
        self.hooks.append(hook)

    def deliver(self, topic: str, payload: str, retained: bool = False) -> None:
        for handler in self.handlers[topic]:
            handler(topic, payload.encode(), retained)


ROOM = Room(
    id="r",
    name="R",
    lights=(
        Light(name="ceiling", profile="zigbee2mqtt", topic="ceil", role="ceiling"),
        Light(name="lamp", profile="shelly_gen1", topic="duo", role="lamp"),  # fades natively up to 5 s only
    ),
)


def scene(name: str) -> dict[str, LightState]:
    return {light.name: SCENES[name].for_role(light.role) for light in ROOM.lights}


@pytest.fixture
async def lights() -> AsyncIterator[tuple[RoomLights, RecordingLink, ManualClock]]:
    link, clock = RecordingLink(), ManualClock(T0)
    room_lights = RoomLights(ROOM, PROFILES, link, clock, on_change=lambda: None)
    room_lights.attach()
    task = asyncio.create_task(room_lights.run())
    yield room_lights, link, clock
    task.cancel()


def sent_to(link: RecordingLink, topic: str) -> list[dict[str, object]]:
    return [p for t, p in link.sent if t == topic]


def view(room_lights: RoomLights, name: str):  # type: ignore[no-untyped-def]
    return next(v for v in room_lights.view() if v.name == name)


async def test_a_fade_the_device_can_do_is_one_native_command(lights) -> None:  # type: ignore[no-untyped-def]
    room_lights, link, clock = lights
    link.deliver("zigbee2mqtt/ceil", '{"state":"ON","brightness":254,"color_temp":250}')
    room_lights.show(scene("onset"), 300)  # within Zigbee2MQTT's profile maximum
    await clock.advance(400)
    cmds = sent_to(link, "zigbee2mqtt/ceil/set")
    assert cmds == [{"state": "ON", "brightness": 25, "color_temp": 370, "transition": 300.0}]


async def test_a_fade_too_long_for_the_device_is_stepped_at_least_once_a_second(lights) -> None:  # type: ignore[no-untyped-def]
    room_lights, link, clock = lights
    link.deliver("shellies/duo/light/0/status", '{"ison":true,"brightness":100,"temp":4000}')
    room_lights.show(scene("onset"), 300)  # a Shelly Gen1 fades natively for 5 s at most
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


async def test_a_light_never_heard_from_glides_to_its_target_by_itself_not_from_black(lights) -> None:  # type: ignore[no-untyped-def]
    room_lights, link, clock = lights
    room_lights.show(scene("onset"), 300)
    await clock.advance(10)
    # One command each, to the scene, with as much of the fade as the device does by itself: it
    # glides from wherever it really is. No step near 0 % on the way, and no jump.
    assert sent_to(link, "zigbee2mqtt/ceil/set") == [
        {"state": "ON", "brightness": 25, "color_temp": 370, "transition": 300}
    ]
    assert sent_to(link, "shellies/duo/light/0/set") == [  # a Shelly Gen1 fades for 5 s at most
        {"turn": "on", "brightness": 25, "temp": 2700, "transition": 5000}
    ]
    # The panic scene still goes at once.
    room_lights.show({"ceiling": LightState(on=True, brightness_pct=100)}, 0)
    assert sent_to(link, "zigbee2mqtt/ceil/set")[-1]["transition"] == 0


async def test_a_light_heard_on_without_a_level_glides_too_not_steps_from_full(lights) -> None:  # type: ignore[no-untyped-def]
    room_lights, link, clock = lights
    link.deliver("zigbee2mqtt/ceil", '{"state":"ON"}')  # on, brightness unknown: not 100 %
    room_lights.show(scene("onset"), 300)
    await clock.advance(10)
    assert sent_to(link, "zigbee2mqtt/ceil/set") == [
        {"state": "ON", "brightness": 25, "color_temp": 370, "transition": 300}
    ]


async def test_a_new_command_starts_from_where_the_fade_is(lights) -> None:  # type: ignore[no-untyped-def]
    room_lights, link, clock = lights
    link.deliver("zigbee2mqtt/ceil", '{"state":"ON","brightness":254}')
    room_lights.show(scene("peak"), 600)  # ceiling: off over 600 s
    await clock.advance(200)
    midway = view(room_lights, "ceiling").intended
    assert midway is not None and 0 < midway.level_pct < 100
    room_lights.show({"ceiling": LightState(on=True, brightness_pct=50)}, 10)
    ceiling = view(room_lights, "ceiling")
    assert ceiling.target == LightState(on=True, brightness_pct=50)
    assert ceiling.intended == midway  # the new fade starts at the interrupted point


async def test_showing_the_same_targets_again_sends_nothing_unless_forced(lights) -> None:  # type: ignore[no-untyped-def]
    room_lights, link, _clock = lights
    room_lights.show(scene("arrival"), 0)
    first = len(link.sent)
    room_lights.show(scene("arrival"), 0)
    assert len(link.sent) == first
    room_lights.show(scene("arrival"), 0, force=True)
    assert len(link.sent) == first + 2


async def test_reassert_sends_the_rest_of_the_fade_once(lights) -> None:  # type: ignore[no-untyped-def]
    room_lights, link, clock = lights
    link.deliver("zigbee2mqtt/ceil", '{"state":"ON","brightness":254}')
    room_lights.show(scene("peak"), 600)
    await clock.advance(300)
    link.sent.clear()
    for hook in link.hooks:  # what the link does after a reconnect
        hook()
    # Once, from wherever the device is: the rest of the fade, on time (no jump to a point first).
    assert sent_to(link, "zigbee2mqtt/ceil/set") == [{"state": "OFF", "transition": 300.0}]


async def test_a_light_coming_back_online_gets_its_intended_state(lights) -> None:  # type: ignore[no-untyped-def]
    room_lights, link, _clock = lights
    room_lights.show(scene("arrival"), 0)
    link.deliver("zigbee2mqtt/ceil/availability", '{"state":"offline"}')
    assert view(room_lights, "ceiling").online is False
    link.sent.clear()
    link.deliver("zigbee2mqtt/ceil/availability", '{"state":"online"}')
    assert view(room_lights, "ceiling").online is True
    assert sent_to(link, "zigbee2mqtt/ceil/set") == [
        {"state": "ON", "brightness": 102, "color_temp": 333, "transition": 0}
    ]


async def test_reports_confirm_and_malformed_ones_change_nothing(lights) -> None:  # type: ignore[no-untyped-def]
    room_lights, link, _clock = lights
    room_lights.show(scene("arrival"), 0)
    link.deliver("zigbee2mqtt/ceil", '{"state":"ON","brightness":102,"color_temp":333}')
    before = view(room_lights, "ceiling")
    assert before.confirmed and before.online is None
    for junk in ["{", "[]", '{"state": 7}', '{"brightness": "lots"}', "\u0000"]:
        link.deliver("zigbee2mqtt/ceil", junk)
        link.deliver("zigbee2mqtt/ceil/availability", junk)
    assert view(room_lights, "ceiling") == before
