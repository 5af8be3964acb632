"""The panic path over HTTP and MQTT, with real Mosquitto: lights up, audio paused, session frozen."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest
from pydantic import SecretStr

from app.audio import FakePlayer
from app.domain.clock import ManualClock
from app.music.decks import DeckPair
from app.settings import Settings, Token
from tests.conftest import Mosquitto, Service, serve
from tests.support import Sniffer, sniffing

ROOMS = """\
rooms:
  - id: one
    name: Room one
    audio: {output: dummy}
    lights:
      - {name: ceiling, profile: zigbee2mqtt, topic: one_ceiling, role: ceiling}
      - {name: lamp, profile: tasmota, topic: one_lamp, role: lamp}
      - {name: duo, profile: shelly_gen1, topic: one_duo, role: lamp}
      - {name: dimmer, profile: shelly_gen2, topic: one-dimmer, role: accent}
      - {name: strip, profile: wled, topic: one_strip, role: accent}
      - {name: esp, profile: esphome, topic: one-esp/light/lamp, role: lamp}
      - {name: ha, profile: ha_json, topic: clinic/one/ha, role: accent}
      - {name: diy, profile: generic_template, topic: clinic/one/diy, role: ceiling}
  - id: two
    name: Room two
    audio: {output: dummy}
"""

# Where each light's commands go, and how its panic command reads (100 %, ~4000 K).
COMMAND_TOPICS = {
    "zigbee2mqtt/one_ceiling/set": lambda p: json.loads(p)["brightness"] == 254 and json.loads(p)["color_temp"] == 250,
    "cmnd/one_lamp/Backlog": lambda p: "Power ON" in p and "Dimmer 100" in p and "CT 250" in p,
    "shellies/one_duo/light/0/set": lambda p: json.loads(p)["brightness"] == 100 and json.loads(p)["temp"] == 4000,
    "one-dimmer/rpc": lambda p: json.loads(p)["params"]["brightness"] == 100 and json.loads(p)["params"]["on"] is True,
    "wled/one_strip/api": lambda p: json.loads(p)["bri"] == 255 and json.loads(p)["seg"][0]["cct"] == 4000,
    "one-esp/light/lamp/command": lambda p: json.loads(p)["brightness"] == 255 and json.loads(p)["state"] == "ON",
    "clinic/one/ha/set": lambda p: json.loads(p)["brightness"] == 255 and json.loads(p)["color_temp"] == 250,
    "clinic/one/diy/set": lambda p: json.loads(p)["brightness"] == 255,
}


@pytest.fixture
def panic_settings(settings: Settings, tmp_path: Path) -> Settings:
    rooms = tmp_path / "panic-rooms.yaml"
    rooms.write_text(ROOMS)
    return settings.model_copy(update={"rooms_file": rooms})


async def wait_for_panic_on_every_light(sniffer: Sniffer, after: int = 0) -> None:
    async with asyncio.timeout(10):
        while not all(
            any(t == topic and _holds(check, p) for t, p in sniffer.messages[after:])
            for topic, check in COMMAND_TOPICS.items()
        ):
            await asyncio.sleep(0.01)


def _holds(check: Callable[[str], bool], payload: str) -> bool:
    try:
        return check(payload)
    except (KeyError, ValueError, TypeError, IndexError):
        return False  # another command to that light (say, turning it off), not the panic


async def connected(svc: Service) -> None:
    async with asyncio.timeout(10):
        await svc.runtime.link.wait_connected()


def player(svc: Service, room: str = "one") -> DeckPair:
    return svc.runtime.rooms[room].music.decks


async def music_playing(svc: Service, room: str = "one") -> None:
    """Start a session, whose demo playlist then plays, and wait until it does."""
    r = await svc.client.post(f"/api/rooms/{room}/session", json={"preset": "psilocybin"})
    assert r.status_code == 201, r.text
    async with asyncio.timeout(5):
        while player(svc, room).status().state != "playing":
            await asyncio.sleep(0.01)


async def test_panic_over_http_lights_every_light_and_pauses_the_player(
    panic_settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with serve(panic_settings, clock) as svc, sniffing(mosquitto.port) as sniffer:
        await connected(svc)
        await music_playing(svc)
        r = await svc.client.post("/api/rooms/one/panic")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["panic"] is True and body["already"] is False
        assert {light["name"] for light in body["lights"]} == {
            "ceiling",
            "lamp",
            "duo",
            "dimmer",
            "strip",
            "esp",
            "ha",
            "diy",
        }
        assert all(light["status"] in ("sent", "confirmed") for light in body["lights"])
        assert body["audio"]["status"] == "paused" and body["audio"]["error"] is None
        assert body["took_ms"] > 0
        assert player(svc).status().state == "paused"
        await wait_for_panic_on_every_light(sniffer)
        state = (await svc.client.get("/api/rooms/one/state")).json()
        assert state["panic"]["active"] is True and state["lighting"]["scene"] == "panic"


async def test_panic_over_mqtt_press(panic_settings: Settings, clock: ManualClock, mosquitto: Mosquitto) -> None:
    async with serve(panic_settings, clock) as svc, sniffing(mosquitto.port) as sniffer:
        await connected(svc)
        await music_playing(svc)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as button:
            await button.publish("arcroom/one/panic", b"PRESS", qos=1)
        await wait_for_panic_on_every_light(sniffer)
        async with asyncio.timeout(5):
            while player(svc).status().state != "paused":
                await asyncio.sleep(0.01)
        assert svc.runtime.rooms["one"].panic_status().by == "mqtt"


async def test_broker_down_audio_still_pauses_and_lights_go_out_when_it_returns(
    panic_settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with serve(panic_settings, clock) as svc:
        await connected(svc)
        await music_playing(svc)
        mosquitto.stop()
        try:
            async with asyncio.timeout(10):
                while svc.runtime.link.connected:
                    await asyncio.sleep(0.01)
            r = await svc.client.post("/api/rooms/one/panic")
            body = r.json()
            assert r.status_code == 200
            assert body["audio"]["status"] == "paused" and player(svc).status().state == "paused"
            assert {light["status"] for light in body["lights"]} == {"unconfirmed"}
        finally:
            mosquitto.start()
        async with sniffing(mosquitto.port) as sniffer:
            await wait_for_panic_on_every_light(sniffer)


class HungPlayer(FakePlayer):
    """A deck whose libVLC thread is stuck: pause never returns."""

    async def pause(self, *args: object, **kwargs: object) -> None:
        await asyncio.Event().wait()


async def test_a_hung_player_does_not_hold_up_the_lights_or_the_response(
    panic_settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with (
        serve(panic_settings, clock, player_factory=lambda room, s: HungPlayer(clock=clock)) as svc,
        sniffing(mosquitto.port) as sniffer,
    ):
        await connected(svc)
        await music_playing(svc)
        r = await asyncio.wait_for(svc.client.post("/api/rooms/one/panic"), 5)
        assert r.status_code == 200
        assert r.json()["audio"]["status"] == "unconfirmed"
        assert "did not answer" in r.json()["audio"]["error"]
        await wait_for_panic_on_every_light(sniffer)


async def test_panic_freezes_cues_and_phase_changes_until_cleared(
    panic_settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with serve(panic_settings, clock) as svc:
        c = svc.client
        await c.post("/api/rooms/one/session", json={"preset": "ketamine_iv"})
        await c.post("/api/rooms/one/session/dose")
        seen: list[str] = []
        with svc.runtime.changes.subscribe() as changes:
            await c.post("/api/rooms/one/panic")
            await clock.advance(3 * 3600)  # far past every cue and phase of a ketamine IV session
            while not changes.empty():
                seen.append(changes.get_nowait().kind)
            assert "cue" not in seen and "phase" not in seen
            session = (await c.get("/api/rooms/one/state")).json()["session"]
            assert session["phase"] == "onset" and session["status"] == "panic"
            await c.post("/api/rooms/one/panic/clear", json={"mode": "restore"})
            await clock.advance(1)
            while not changes.empty():
                seen.append(changes.get_nowait().kind)
            assert "cue" in seen  # the due vitals check is announced once the panic is over
        session = (await c.get("/api/rooms/one/state")).json()["session"]
        assert session["phase"] == "onset" and session["time_in_phase_s"] == 1  # panic time did not count


async def test_restore_returns_lights_to_before_and_resumes_audio(
    panic_settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with serve(panic_settings, clock) as svc:
        c = svc.client
        await music_playing(svc)
        await c.put("/api/rooms/one/lights", json={"scene": "peak", "transition": 0})
        before = {lt["name"]: lt["target"] for lt in (await c.get("/api/rooms/one/state")).json()["lighting"]["lights"]}
        position = player(svc).status().now_playing
        await c.post("/api/rooms/one/panic")
        await clock.advance(60)
        r = await c.post("/api/rooms/one/panic/clear", json={"mode": "restore"})
        assert r.status_code == 200 and r.json()["panic"]["active"] is False
        lights = r.json()["lighting"]["lights"]
        assert {lt["name"]: lt["target"] for lt in lights} == before
        assert all(lt["fade"] is not None and lt["fade"]["ends_at"] - clock.now() == pytest.approx(10) for lt in lights)
        status = player(svc).status()
        assert status.state == "playing"
        assert position is not None and status.now_playing is not None
        assert status.now_playing.title == position.title  # from where it paused, not the next track
        assert abs(status.now_playing.position_s - position.position_s) < 1.5


async def test_hold_keeps_the_room_bright_and_quiet_until_restored(
    panic_settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with serve(panic_settings, clock) as svc:
        c = svc.client
        await music_playing(svc)
        await c.post("/api/rooms/one/session/dose")
        await c.post("/api/rooms/one/panic")
        r = await c.post("/api/rooms/one/panic/clear", json={"mode": "hold"})
        view = r.json()
        assert view["panic"] == {"active": True, "mode": "held", "since": view["panic"]["since"], "by": "http:open"}
        assert view["session"]["status"] == "held" and view["lighting"]["scene"] == "panic"
        assert player(svc).status().state == "paused"
        r = await c.post("/api/rooms/one/panic/clear", json={"mode": "restore"})
        assert r.json()["panic"]["active"] is False and r.json()["session"]["status"] == "running"
        assert player(svc).status().state == "playing"
        types = [e["type"] for e in (await c.get(f"/api/sessions/{view['session']['session_id']}/events")).json()]
        assert types[-5:] == ["panic", "panic_cleared", "hold", "resume", "audio_resumed"]


async def test_a_second_panic_is_harmless_and_a_room_without_session_still_brightens(
    panic_settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with serve(panic_settings, clock) as svc, sniffing(mosquitto.port) as sniffer:
        await connected(svc)
        first = (await svc.client.post("/api/rooms/one/panic")).json()
        assert first["session_id"] is None  # no session: still a full panic
        await wait_for_panic_on_every_light(sniffer)
        mark = len(sniffer.messages)
        second = await svc.client.post("/api/rooms/one/panic")
        assert second.status_code == 200 and second.json()["already"] is True
        await wait_for_panic_on_every_light(sniffer, after=mark)  # sent again, in case one was missed
        assert player(svc).status().state != "playing"
        assert (await svc.client.post("/api/rooms/two/panic/clear", json={"mode": "restore"})).status_code == 409


async def test_roles_device_may_only_panic_observer_may_not(panic_settings: Settings, clock: ManualClock) -> None:
    tokens = [
        Token(name="wall", role="device", token=SecretStr("device-WallButton-3p")),
        Token(name="watcher", role="observer", token=SecretStr("observer-Nurse-4kW7a")),
    ]
    async with serve(panic_settings.model_copy(update={"tokens": tokens}), clock) as svc:
        device = {"Authorization": "Bearer " + "device-WallButton-3p"}
        observer = {"Authorization": "Bearer " + "observer-Nurse-4kW7a"}
        r = await svc.client.post("/api/rooms/one/panic", headers=device)
        assert r.status_code == 200 and r.json()["panic"] is True
        assert svc.runtime.rooms["one"].panic_status().by == "http:wall"
        for method, url, body in [
            ("GET", "/api/rooms/one/state", None),
            ("GET", "/api/rooms", None),
            ("POST", "/api/rooms/one/panic/clear", {"mode": "restore"}),
            ("POST", "/api/rooms/one/session", {"preset": "lsd"}),
            ("PUT", "/api/rooms/one/lights", {"scene": "peak"}),
        ]:
            r = await svc.client.request(method, url, json=body, headers=device)
            assert r.status_code == 403, (url, r.text)
        r = await svc.client.post("/api/rooms/two/panic", headers=observer)
        assert r.status_code == 403 and "may not panic" in r.json()["detail"]
        assert svc.runtime.rooms["two"].panic_status().active is False
