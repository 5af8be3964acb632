"""The ACL `arcroom broker acl` makes, with deploy/mosquitto/auth.conf.example, in a real Mosquitto,
with real clients and Arcroom."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt
import pytest
from pydantic import SecretStr

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import serve
from tests.support import WAIT_S, Mosquitto, probes_before_marker

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
# Rooms as a clinic fits them: the ACL is made from this file by `arcroom broker acl`.
CLINIC_ROOMS = """\
rooms:
  - id: one
    name: Room one
    audio: {output: dummy}
    lights:
      - {name: ceiling, profile: zigbee2mqtt, topic: ceiling, role: ceiling}
      - {name: lamp, profile: tasmota, topic: lamp-one, role: lamp}
  - id: two
    name: Room two
    audio: {output: dummy}
    lights:
      - {name: lamp, profile: tasmota, topic: lamp-two, role: lamp}
"""
PASSWORDS = {
    "arcroom": "arcroom-password-1",
    "homeassistant": "homeassistant-password-1",
    "wallbutton-one": "wallbutton-password-1",
    "zigbee2mqtt": "zigbee2mqtt-password-1",
    "one-lamp": "lamp-one-password-1",  # the Tasmota light "lamp" in room one, whose %topic% is lamp-one
    "watcher": "watcher-password-1",  # the test's own: reads everything, to see what got through
}


@pytest.fixture(scope="module")
def clinic_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """Mosquitto configured as deploy/mosquitto/auth.conf.example says, with the generated ACL."""
    workdir = tmp_path_factory.mktemp("clinic-mosquitto")
    passwd = workdir / "passwd"
    passwd.touch()
    for user, password in PASSWORDS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True, capture_output=True)
    rooms = workdir / "rooms.yaml"
    rooms.write_text(CLINIC_ROOMS)
    acl = subprocess.run(
        [sys.executable, "-m", "app", "broker", "acl"],
        env={**os.environ, "ARCROOM_ROOMS_FILE": str(rooms)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (workdir / "acl").write_text(acl + "\nuser watcher\ntopic read #\n")
    broker = Mosquitto(workdir)
    conf = (DEPLOY / "auth.conf.example").read_text()
    conf = re.sub(r"^listener 1883$", f"listener {broker.port} 127.0.0.1", conf, flags=re.M)
    conf = conf.replace("/etc/mosquitto/passwd", str(passwd)).replace("/etc/mosquitto/acl", str(workdir / "acl"))
    # `user root`: run as root (CI), Mosquitto would switch to its own user, who cannot read the
    # test's private folder; it has no effect for anyone else.
    broker.config.write_text(conf + "persistence false\nuser root\n")
    broker.start()
    yield broker
    broker.stop()


@asynccontextmanager
async def as_user(broker: Mosquitto, user: str | None, *subscriptions: str) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username=user,
        password=PASSWORDS.get(user or ""),
        identifier=f"{user}-{uuid.uuid4().hex[:8]}",
        timeout=WAIT_S,
    ) as client:
        for s in subscriptions:
            await client.subscribe(s, qos=1)
        yield client


async def delivered(broker: Mosquitto, user: str, topic: str) -> bool:
    """Whether `user`'s publish on `topic` reaches a subscriber (Arcroom, which may read everything).

    A denied publish is dropped silently by the broker; a marker published right after it by the
    same client on a topic it may use shows the broker has dealt with both."""
    marker = {
        "wallbutton-one": "arcroom/one/panic",
        "homeassistant": "arcroom/one/session/set",
        "one-lamp": "stat/lamp-one/RESULT",
        "zigbee2mqtt": "zigbee2mqtt/ceiling",
    }[user]
    async with as_user(broker, "watcher", "#") as arcroom:
        async with as_user(broker, user) as client:
            await client.publish(topic, b"probe", qos=1)
            await client.publish(marker, b"marker", qos=1)
        return await probes_before_marker(arcroom) == [topic]


@pytest.mark.parametrize(
    ("user", "topic", "allowed"),
    [
        ("wallbutton-one", "arcroom/one/panic", True),
        ("wallbutton-one", "arcroom/two/panic", False),  # another room's
        ("wallbutton-one", "arcroom/one/session/set", False),  # a command
        ("homeassistant", "arcroom/one/panic", True),
        ("homeassistant", "arcroom/one/scene/set", True),
        ("homeassistant", "arcroom/one/state", False),  # a fake state
        ("homeassistant", "arcroom/status", False),  # a fake "online"
        ("one-lamp", "stat/lamp-one/RESULT", True),
        ("one-lamp", "stat/lamp-two/RESULT", False),  # another light's
        ("one-lamp", "cmnd/lamp-one/Power", False),  # its own commands: only read
        ("one-lamp", "arcroom/one/panic", False),
        ("homeassistant", "cmnd/lamp-one/Backlog", True),  # its panic fallback drives the lights
        ("wallbutton-one", "cmnd/lamp-one/Backlog", False),
        ("zigbee2mqtt", "zigbee2mqtt/ceiling", True),
        ("zigbee2mqtt", "arcroom/one/panic", False),
    ],
)
async def test_each_account_may_publish_only_its_own_topics(
    clinic_broker: Mosquitto, user: str, topic: str, allowed: bool
) -> None:
    assert await delivered(clinic_broker, user, topic) is allowed


async def test_anonymous_clients_and_wrong_passwords_are_refused(clinic_broker: Mosquitto) -> None:
    with pytest.raises(aiomqtt.MqttCodeError):
        async with as_user(clinic_broker, None):
            pass  # pragma: no cover - refused
    with pytest.raises(aiomqtt.MqttCodeError):
        async with aiomqtt.Client("127.0.0.1", clinic_broker.port, username="arcroom", password="wrong"):
            pass  # pragma: no cover - refused


async def test_arcroom_runs_on_the_clinic_broker_and_only_room_ones_button_panics_room_one(
    clinic_broker: Mosquitto, settings: Settings, clock: ManualClock
) -> None:
    s = settings.model_copy(
        update={
            "mqtt_url": clinic_broker.url,
            "mqtt_username": "arcroom",
            "mqtt_password": SecretStr(PASSWORDS["arcroom"]),
        }
    )
    async with serve(s, clock) as svc:
        async with asyncio.timeout(WAIT_S):
            await svc.runtime.link.wait_connected()
        rooms = svc.runtime.rooms
        async with as_user(clinic_broker, "wallbutton-one") as button:
            await button.publish("arcroom/two/panic", b'{"by": "wall-button"}', qos=1)
            await button.publish("arcroom/one/panic", b'{"by": "wall-button"}', qos=1)
        async with asyncio.timeout(WAIT_S):
            while not rooms["one"].in_panic():
                await asyncio.sleep(0.02)
        assert rooms["one"].panic_status().by == "mqtt:wall-button"
        assert not rooms["two"].in_panic()


async def test_a_wrong_broker_password_makes_health_degraded_naming_the_settings_said_once(
    clinic_broker: Mosquitto, settings: Settings, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    s = settings.model_copy(
        update={
            "mqtt_url": clinic_broker.url,
            "mqtt_username": "arcroom",
            "mqtt_password": SecretStr("not-the-password"),
        }
    )
    async with serve(s, clock) as svc:
        # Until the first attempt is answered, health says only "not connected ... yet" (a loaded
        # run read it there): wait for the broker's refusal.
        async with asyncio.timeout(WAIT_S):
            while True:
                health = (await svc.client.get("/api/health")).json()
                if any("refused" in p for p in health["problems"]):
                    break
                await asyncio.sleep(0.05)
        assert health["status"] == "degraded"
        (problem,) = health["problems"]
        assert problem.startswith(f"the broker {clinic_broker.url} refused the login of user 'arcroom'")
        assert problem.endswith(
            "check ARCROOM_MQTT_USERNAME and ARCROOM_MQTT_PASSWORD (or the user:password in ARCROOM_MQTT_URL)"
        )
        assert "not-the-password" not in problem
        await asyncio.sleep(1.5)  # a second's retries would have said it again
        said = [r for r in caplog.records if "refused the login" in r.getMessage()]
        assert len(said) == 1 and said[0].levelname == "ERROR"
