"""Drills: the service killed with SIGKILL mid-fade, in panic and while held, then started again.

A separate process on the real clock, a real Mosquitto, and a simulated Shelly (its firmware's
topics, its own fades) that records every command it receives: what a light in the room gets.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from app.simulators import SimulatedLight, make_simulator
from tests.drills.service import ServiceProcess
from tests.support import CLIENT_LIMITS, Mosquitto, unique

WAIT_S = 20


@pytest.fixture
def lamp_topic() -> str:
    return unique("drill")


@pytest.fixture
def profile() -> str:
    return "shelly_gen1"


@pytest.fixture
def service(
    tmp_path: Path, mosquitto: Mosquitto, demo_music: Path, lamp_topic: str, profile: str
) -> Iterator[ServiceProcess]:
    rooms = tmp_path / "rooms.yaml"
    rooms.write_text(
        "rooms:\n  - id: one\n    name: Room one\n    audio: {output: dummy}\n    lights:\n"
        f"      - {{name: lamp, profile: {profile}, topic: {lamp_topic}, role: lamp}}\n"
    )
    svc = ServiceProcess(
        tmp_path,
        {
            "ARCROOM_MQTT_URL": mosquitto.url,
            "ARCROOM_ROOMS_FILE": str(rooms),
            "ARCROOM_DEMO_MUSIC_DIR": str(demo_music),
            "ARCROOM_MQTT_CLIENT_ID": unique("arcroom-drill"),
        },
    )
    svc.start()
    yield svc
    svc.stop()


@asynccontextmanager
async def lamp(mosquitto: Mosquitto, topic: str, profile: str = "shelly_gen1") -> AsyncIterator[SimulatedLight]:
    light = make_simulator(profile, topic)
    task = asyncio.create_task(light.run("127.0.0.1", mosquitto.port))
    try:
        async with asyncio.timeout(WAIT_S):
            await light.wait_connected()
        yield light
    finally:
        task.cancel()


def brightness_commands(light: SimulatedLight, since: int = 0) -> list[dict[str, object]]:
    out = []
    for topic, payload in light.received[since:]:
        if topic.endswith("/light/0/set"):
            out.append(json.loads(payload))
    return out


async def until(condition: object, what: str) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.05)


async def state(client: httpx.AsyncClient) -> dict[str, object]:
    return (await client.get("/api/rooms/one/state")).json()  # type: ignore[no-any-return]


# Every family: Shelly Gen1 and Tasmota cannot fade 60 s themselves (Arcroom steps it); the others
# can, and ESPHome reports where its transition goes rather than where it is.
FAMILIES = ["shelly_gen1", "tasmota", "zigbee2mqtt", "shelly_gen2", "wled", "esphome", "ha_json"]


@pytest.mark.parametrize("profile", FAMILIES)
async def test_kill_9_mid_fade_the_lamp_goes_on_from_where_it_is_and_the_fade_ends_on_time(
    service: ServiceProcess, mosquitto: Mosquitto, lamp_topic: str, profile: str
) -> None:
    async with (
        lamp(mosquitto, lamp_topic, profile) as light,
        httpx.AsyncClient(base_url=service.url, timeout=10, limits=CLIENT_LIMITS) as c,
    ):
        await until(lambda: abs(light.target.brightness_pct - 50) <= 1, "the idle scene (lamp 50 %)")
        r = await c.put("/api/rooms/one/lights", json={"brightness": 60, "transition": 0})
        assert r.status_code == 200
        await until(lambda: abs(light.state().brightness_pct - 60) <= 1, "the lamp at 60 %")  # in its own scale
        fade_from = time.time()
        r = await c.put("/api/rooms/one/lights", json={"brightness": 10, "transition": 60})
        await asyncio.sleep(4)
        service.kill9()
        at_kill = light.state().brightness_pct
        assert 10 < at_kill < 60
        mark = len(light.received)
        service.start()
        # What the lamp itself shows, sampled from the restart until 3 s after the first command.
        shown = [light.state().brightness_pct]
        async with asyncio.timeout(WAIT_S):
            while len(light.received) == mark:
                await asyncio.sleep(0.05)
                shown.append(light.state().brightness_pct)
        for _ in range(60):
            await asyncio.sleep(0.05)
            shown.append(light.state().brightness_pct)
        # Never a dip to black, never a jump back up: from where the lamp is, down towards 10 %.
        assert all(10 - 0.5 <= b <= at_kill + 1 for b in shown), (shown, light.received[mark:])
        assert all(b <= a + 0.5 for a, b in itertools.pairwise(shown)), shown
        # Nor a drop faster than the fade's own pace (at most 1.4 %/s here): 20 samples are a second.
        assert all(a - b <= 5 for a, b in zip(shown, shown[20:], strict=False)), (
            f"{shown} {light.received[mark:]} {service.log.read_text()[-6000:]}"
        )
        assert shown[-1] < at_kill - 1, shown  # and it is still fading down
        lighting = (await state(c))["lighting"]
        lamp_view = lighting["lights"][0]  # type: ignore[index]
        assert lighting["source"] == "manual" and lamp_view["target"]["brightness_pct"] == 10  # type: ignore[index]
        assert abs(lamp_view["fade"]["ends_at"] - (fade_from + 60)) < 3  # type: ignore[index]  # on time, not rushed


@pytest.mark.parametrize("held", [False, True], ids=["in panic", "held after a panic"])
async def test_kill_9_in_panic_or_held_the_room_comes_back_bright_once_and_says_so(
    service: ServiceProcess, mosquitto: Mosquitto, lamp_topic: str, held: bool
) -> None:
    async with (
        lamp(mosquitto, lamp_topic) as light,
        httpx.AsyncClient(base_url=service.url, timeout=10, limits=CLIENT_LIMITS) as c,
    ):
        await until(lambda: light.target.brightness_pct == 50, "the idle scene")
        assert (await c.post("/api/rooms/one/session", json={"preset": "psilocybin"})).status_code == 201
        await c.post("/api/rooms/one/session/dose")
        assert (await c.post("/api/rooms/one/panic")).status_code == 200
        if held:
            assert (await c.post("/api/rooms/one/panic/clear", json={"mode": "hold"})).status_code == 200
        await until(lambda: light.state().brightness_pct == 100, "the lamp at 100 %")
        before = (await state(c))["panic"]
        service.kill9()
        mark = len(light.received)
        service.start()
        await asyncio.sleep(2)
        view = await state(c)
        assert view["panic"] == before  # mode, since and by as they were
        assert view["session"]["status"] == ("held" if held else "panic")  # type: ignore[index]
        assert view["audio"]["state"] in ("paused", "stopped")  # type: ignore[index]
        after = brightness_commands(light, mark)
        assert [cmd["brightness"] for cmd in after] == [100], after  # the panic scene, once
        assert light.state().brightness_pct == 100
        mark = len(light.received)
        r = await c.post("/api/rooms/one/panic/clear", json={"mode": "restore"})
        assert r.status_code == 200 and r.json()["lighting"]["scene"] == "onset"
        assert r.json()["lighting"]["lights"][0]["target"]["brightness_pct"] == 25
        # Stepped down from 100 % towards the onset scene's 25 % over the 10 s restore fade.
        await until(lambda: len(brightness_commands(light, mark)) >= 2, "the lamp fading to the onset scene")
        steps = [cmd["brightness"] for cmd in brightness_commands(light, mark)]
        assert steps == sorted(steps, reverse=True) and all(25 <= b < 100 for b in steps), steps  # type: ignore[operator]
