"""Panic never fails: a broken light, codec or database cannot stop the other effects or make a 500.

Real Mosquitto; what the lights receive is read by an independent subscriber.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.catalog import load_profiles, load_rooms
from app.config_files import ConfigFileError
from app.domain.clock import ManualClock
from app.lighting import controller
from app.settings import Settings
from tests.conftest import Service, serve
from tests.support import Mosquitto, rooms_with_lights, sniffing, unique

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def prefix() -> str:
    return unique("pn").replace("-", "_")


@pytest.fixture
def room_settings(settings: Settings, tmp_path: Path, prefix: str) -> Settings:
    rooms = tmp_path / "rooms-pn.yaml"
    rooms.write_text(rooms_with_lights(prefix))  # the lamp is the one whose codec breaks
    return settings.model_copy(update={"rooms_file": rooms})


async def playing(svc: Service) -> None:
    r = await svc.client.post("/api/rooms/one/session", json={"preset": "psilocybin"})
    assert r.status_code == 201
    decks = svc.runtime.rooms["one"].music.decks
    async with asyncio.timeout(5):
        while decks.status().state != "playing":
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("topic", ["+", "a/#", "clinic//lamp", "/lamp", "lamp/", "x" * 70000])
def test_a_light_topic_mqtt_cannot_use_is_refused_at_start_up_with_file_line_and_field(
    tmp_path: Path, topic: str
) -> None:
    path = tmp_path / "rooms.yaml"
    path.write_text(
        "rooms:\n  - id: one\n    name: One\n    lights:\n"
        f"      - name: lamp\n        profile: tasmota\n        topic: '{topic}'\n        role: lamp\n"
    )
    with pytest.raises(ConfigFileError) as caught:
        load_rooms(path, load_profiles(ROOT / "device_profiles"))
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}:7: rooms[0].lights[0].topic: ")


async def test_a_light_whose_command_cannot_be_made_does_not_stop_the_panic(
    room_settings: Settings, clock: ManualClock, mosquitto: Mosquitto, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    encode = controller.encode_command

    def failing(profile, topic, *args, **kwargs):  # type: ignore[no-untyped-def]
        if topic.endswith("_lamp"):
            raise ValueError("this light's codec is broken")
        return encode(profile, topic, *args, **kwargs)

    async with serve(room_settings, clock) as svc, sniffing(mosquitto.port) as sniffer:
        await svc.runtime.link.wait_connected()
        await playing(svc)
        monkeypatch.setattr(controller, "encode_command", failing)
        r = await svc.client.post("/api/rooms/one/panic")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["audio"]["status"] == "paused"
        assert any("lamp" in e for e in body["errors"])
        await sniffer.wait_for(f"zigbee2mqtt/{prefix}_ceiling/set", brightness=254)
        assert (await svc.client.get("/api/rooms/one/state")).json()["panic"]["active"] is True


async def test_a_failing_database_does_not_stop_the_panic(
    room_settings: Settings, clock: ManualClock, mosquitto: Mosquitto, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(room_settings, clock) as svc, sniffing(mosquitto.port) as sniffer:
        await svc.runtime.link.wait_connected()
        await playing(svc)

        def disk_full(*args: object, **kwargs: object) -> None:
            raise OSError(28, "No space left on device")

        store = svc.runtime.engine.store
        monkeypatch.setattr(store, "append", disk_full)
        monkeypatch.setattr(store, "append_room_event", disk_full)
        r = await svc.client.post("/api/rooms/one/panic")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["audio"]["status"] == "paused" and len(body["errors"]) == 2
        for name in ("ceiling", "lamp"):
            await sniffer.wait_for(f"zigbee2mqtt/{prefix}_{name}/set", brightness=254)
        assert (await svc.client.get("/api/rooms/one/state")).json()["panic"]["active"] is True
