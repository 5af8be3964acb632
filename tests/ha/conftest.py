"""A real Home Assistant and a private Mosquitto for tests/ha/, started once per test run."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.domain.clock import ManualClock
from app.settings import Settings
from app.simulators import SimulatedLight, make_simulator
from tests.ha.harness import HomeAssistant
from tests.support import Mosquitto, free_port

ROOMS_YAML = """\
rooms:
  - id: one
    name: Room one
    audio: {output: dummy, volume_ceiling_pct: 70}
    lights:
      - {name: lamp, profile: zigbee2mqtt, topic: ha-lamp, role: lamp}
"""
TWO_ROOMS_YAML = (
    ROOMS_YAML
    + """\
  - id: two
    name: Room two
    audio: {output: dummy}
"""
)

# The room's lamp as Home Assistant knows it (a Zigbee2MQTT light), and the panic fallback
# automation made from the shipped blueprint.
HA_EXTRA = """\
mqtt:
  light:
    - name: HA lamp
      unique_id: test_ha_lamp
      schema: json
      command_topic: zigbee2mqtt/ha-lamp/set
      state_topic: zigbee2mqtt/ha-lamp
      brightness: true
automation:
  - alias: Room one panic while Arcroom is down
    use_blueprint:
      path: arcroom/arcroom_panic_fallback.yaml
      input:
        room: one
        lights: [light.ha_lamp]
"""


@pytest.fixture(scope="session")
def ha_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """Home Assistant's own broker: nothing from other tests is retained on it."""
    broker = Mosquitto(tmp_path_factory.mktemp("ha-mosquitto"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def home_assistant(tmp_path_factory: pytest.TempPathFactory, ha_broker: Mosquitto) -> Iterator[HomeAssistant]:
    ha = HomeAssistant(tmp_path_factory.mktemp("home-assistant"), ha_broker.port, HA_EXTRA)
    ha.start()
    print(f"\nHome Assistant started in {ha.started_in_s:.1f} s")
    yield ha
    ha.stop()


def rooms_file(tmp_path: Path, text: str = ROOMS_YAML) -> Path:
    path = tmp_path / f"rooms-{free_port()}.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def ha_settings(tmp_path: Path, ha_broker: Mosquitto, demo_music: Path) -> Settings:
    return Settings(
        _env_file=None,
        database=tmp_path / "arcroom.db",
        rooms_file=rooms_file(tmp_path),  # type: ignore[call-arg]
        mqtt_url=ha_broker.url,
        mqtt_client_id=f"arcroom-ha-{free_port()}",
        demo_music_dir=demo_music,
        public_url="http://arcroom.test:8000",
    )


@pytest.fixture
def now_clock() -> ManualClock:
    """A manual clock that starts at the real time: Home Assistant stamps with its own clock."""
    return ManualClock(time.time())


@pytest.fixture
async def lamp(ha_broker: Mosquitto) -> AsyncIterator[SimulatedLight]:
    """The room's lamp: a simulated Zigbee2MQTT light that runs whether Arcroom does or not."""
    light = make_simulator("zigbee2mqtt", "ha-lamp")
    task = asyncio.create_task(light.run("127.0.0.1", ha_broker.port))
    async with asyncio.timeout(10):
        await light.wait_connected()
    yield light
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.fixture(autouse=True)
def no_home_assistant_warnings(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever a test does, Home Assistant logs no warning or error about it (a rejected
    discovery payload, a bad template, a state an entity cannot take, ...)."""
    if "home_assistant" not in request.fixturenames:
        yield
        return
    ha: HomeAssistant = request.getfixturevalue("home_assistant")
    since = ha.log_size()
    yield
    assert ha.problems(since) == []
