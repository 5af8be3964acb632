"""Panic and restore against what the room should show now, across phase changes and restarts.

Real Mosquitto; what the lights receive is read by an independent subscriber (tests.support.Sniffer).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from app.audio import FakePlayer
from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import Service, serve
from tests.support import Mosquitto, Sniffer, rooms_with_lights, sniffing, unique

CEILING, LAMP = "zigbee2mqtt/{p}_ceiling/set", "zigbee2mqtt/{p}_lamp/set"


@pytest.fixture
def prefix() -> str:
    return unique("rp").replace("-", "_")


@pytest.fixture
def room_settings(settings: Settings, tmp_path: Path, prefix: str) -> Settings:
    rooms = tmp_path / "rooms-panic.yaml"
    rooms.write_text(rooms_with_lights(prefix))
    return settings.model_copy(update={"rooms_file": rooms})


async def post(svc: Service, path: str, body: dict[str, object] | None = None, expect: int = 200) -> dict[str, object]:
    r = await svc.client.post(f"/api/rooms/one{path}", json=body)
    assert r.status_code == expect, (path, r.text)
    return r.json()  # type: ignore[no-any-return]


async def state(svc: Service) -> dict[str, object]:
    return (await svc.client.get("/api/rooms/one/state")).json()  # type: ignore[no-any-return]


async def ready(svc: Service) -> None:
    async with asyncio.timeout(10):
        await svc.runtime.link.wait_connected()
        while (await state(svc))["lighting"]["scene"] is None:  # type: ignore[index]
            await asyncio.sleep(0.01)  # the room took over (idle scene, or what it was)


async def last(sniffer: Sniffer, topic: str) -> dict[str, object]:
    """The last command on `topic`, once one has come: the room's take-over is under way when its
    state shows a scene, and its command reaches the broker (and the sniffer) a moment later."""
    async with asyncio.timeout(10):
        while not sniffer.json_to(topic):
            await asyncio.sleep(0.01)
    return sniffer.json_to(topic)[-1]


async def music_state(svc: Service, wanted: str) -> None:
    decks = svc.runtime.rooms["one"].music.decks
    async with asyncio.timeout(5):
        while decks.status().state != wanted:
            await asyncio.sleep(0.01)


async def test_advance_during_panic_then_restore_fades_to_the_new_phase(
    room_settings: Settings, clock: ManualClock, mosquitto: Mosquitto, prefix: str
) -> None:
    async with serve(room_settings, clock) as svc, sniffing(mosquitto.port) as sniffer:
        await ready(svc)
        await post(svc, "/session", {"preset": "psilocybin"}, 201)
        await post(svc, "/session/dose")
        await post(svc, "/session/advance")  # ascent: scene onset
        await post(svc, "/panic")
        await sniffer.wait_for(CEILING.format(p=prefix), brightness=254, color_temp=250)
        assert (await post(svc, "/session/advance"))["phase"] == "peak"  # allowed in panic; lights stay bright
        assert (await state(svc))["lighting"]["scene"] == "panic"  # type: ignore[index]
        mark = len(sniffer.messages)
        view = await post(svc, "/panic/clear", {"mode": "restore"})
        assert view["lighting"]["scene"] == "peak" and view["lighting"]["source"] == "phase"  # type: ignore[index]
        # Peak: the ceiling goes off and the lamp to 8 %, over the 10 s restore fade.
        ceiling = await sniffer.wait_for(CEILING.format(p=prefix), state="OFF")
        lamp = await sniffer.wait_for(LAMP.format(p=prefix), brightness=20)  # 8 % of 254
        assert ceiling["transition"] == 10 and lamp["transition"] == 10
        assert all(
            m[0] not in (CEILING.format(p=prefix), LAMP.format(p=prefix)) or "panic" not in m[1]
            for m in sniffer.messages[mark:]
        )


async def test_panic_in_an_empty_room_then_a_session_started_in_it_restores_to_its_phase(
    room_settings: Settings, clock: ManualClock, mosquitto: Mosquitto, prefix: str
) -> None:
    async with serve(room_settings, clock) as svc, sniffing(mosquitto.port) as sniffer:
        await ready(svc)
        await post(svc, "/panic")
        started = await post(svc, "/session", {"preset": "psilocybin"}, 201)
        assert started["status"] == "panic"  # the session begins frozen, as the room is
        await post(svc, "/session/dose", {"amount": "25 mg"})  # recording a dose stays possible
        await post(svc, "/session/advance")
        assert (await state(svc))["lighting"]["scene"] == "panic"  # type: ignore[index]
        mark = len(sniffer.messages)
        await post(svc, "/panic/clear", {"mode": "restore"})
        session = (await state(svc))["session"]
        assert session["phase"] == "ascent" and session["status"] == "running"  # type: ignore[index]
        # Ascent's scene (onset): ceiling 10 % at 2700 K, sent over the restore fade.
        await sniffer.wait_for(CEILING.format(p=prefix), brightness=25, color_temp=370, transition=10.0)
        assert len(sniffer.messages) > mark


@pytest.mark.parametrize("held", [False, True], ids=["in panic", "held after a panic"])
async def test_a_restart_in_panic_or_held_comes_back_bright_and_quiet_until_restored(
    room_settings: Settings, clock: ManualClock, mosquitto: Mosquitto, prefix: str, held: bool
) -> None:
    async with serve(room_settings, clock) as first:
        await ready(first)
        await post(first, "/session", {"preset": "psilocybin"}, 201)
        await post(first, "/session/dose")
        await music_state(first, "playing")
        await post(first, "/panic")
        if held:
            await post(first, "/panic/clear", {"mode": "hold"})
        before = (await state(first))["panic"]
    await clock.advance(120)
    async with sniffing(mosquitto.port) as sniffer, serve(room_settings, clock) as second:
        await ready(second)
        view = await state(second)
        assert view["panic"] == before  # same mode, same `since`, same `by`
        assert view["lighting"]["scene"] == "panic"  # type: ignore[index]
        assert view["session"]["status"] == ("held" if held else "panic")  # type: ignore[index]
        # What the lights receive: the panic scene, at once, each light once.
        for topic in (CEILING.format(p=prefix), LAMP.format(p=prefix)):
            # The sniffer may still be reading the broker's retained backlog: wait for the command.
            await sniffer.wait_for(topic, state="ON")
            assert sniffer.json_to(topic) == [{"state": "ON", "brightness": 254, "color_temp": 250, "transition": 0}]
        await music_state(second, "paused")
        assert not any(d.player.status().state == "playing" for d in second.runtime.rooms["one"].music.decks._decks)
        view = await post(second, "/panic/clear", {"mode": "restore"})
        assert view["panic"]["active"] is False and view["session"]["status"] == "running"  # type: ignore[index]
        await sniffer.wait_for(CEILING.format(p=prefix), brightness=25, color_temp=370, transition=10.0)
        await music_state(second, "playing")


async def test_a_manual_override_survives_a_restart_until_the_next_phase(
    room_settings: Settings, clock: ManualClock, mosquitto: Mosquitto, prefix: str
) -> None:
    async with serve(room_settings, clock) as first:
        await ready(first)
        await post(first, "/session", {"preset": "psilocybin"}, 201)
        await post(first, "/session/dose")
        r = await first.client.put("/api/rooms/one/lights", json={"brightness": 30, "kelvin": 2700, "transition": 0})
        assert r.status_code == 200 and r.json()["override"] is not None
    async with sniffing(mosquitto.port) as sniffer, serve(room_settings, clock) as second:
        await ready(second)
        lighting = (await state(second))["lighting"]
        assert lighting["source"] == "manual" and "brightness=30" in lighting["override"]["detail"]  # type: ignore[index]
        assert (await last(sniffer, CEILING.format(p=prefix)))["brightness"] == 76  # 30 % of 254, not the phase's scene
        await post(second, "/session/advance")  # a phase change ends the override
        lighting = (await state(second))["lighting"]
        assert lighting["override"] is None and lighting["source"] == "phase"  # type: ignore[index]
        # Ascent's scene (onset) takes over at its own slow fade.
        await sniffer.wait_for(CEILING.format(p=prefix), brightness=25, color_temp=370, transition=300.0)


async def test_what_is_allowed_during_a_panic(room_settings: Settings, clock: ManualClock) -> None:
    async with serve(room_settings, clock) as svc:
        await ready(svc)
        await post(svc, "/session", {"preset": "mdma"}, 201)
        await post(svc, "/panic")
        await post(svc, "/session/dose", {"amount": "120 mg"})
        await post(svc, "/session/note", {"text": "client sitting up"})
        await post(svc, "/session/extend", {"minutes": 10})
        await post(svc, "/session/advance")
        await clock.advance(95 * 60)
        await post(svc, "/session/dose", {"booster": True, "amount": "60 mg"})
        cue = (await state(svc))["session"]["due_cues"][0]["id"]  # type: ignore[index]
        await post(svc, f"/session/cues/{cue}/ack", {"not_taken_reason": "client in distress"})
        r = await svc.client.post("/api/rooms/one/audio", json={"volume": 30})
        assert r.status_code == 200
        for path, body, why in [
            ("/session/hold", None, "clear it with mode 'hold'"),
            ("/session/resume", None, "mode 'restore'"),
            ("/audio", {"action": "resume"}, "bring the music back"),
        ]:
            r = await svc.client.post(f"/api/rooms/one{path}", json=body)
            assert r.status_code == 409 and why in r.json()["detail"], (path, r.text)
        for method, path, body in [("PUT", "/lights", {"scene": "peak"}), ("PUT", "/lights/lamp", {"on": False})]:
            r = await svc.client.request(method, f"/api/rooms/one{path}", json=body)
            assert r.status_code == 409 and "panic scene" in r.json()["detail"], (path, r.text)
        await post(svc, "/panic/clear", {"mode": "hold"})
        r = await svc.client.post("/api/rooms/one/session/resume")
        assert r.status_code == 409 and "held after a panic" in r.json()["detail"]
        await post(svc, "/session/end", {"override_reason": "client transferred"})  # ending stays possible
        view = await state(svc)
        assert view["session"] is None and view["panic"]["mode"] == "held"  # type: ignore[index]
        assert view["lighting"]["scene"] == "panic"  # type: ignore[index]


async def test_the_music_and_record_controls_in_panic_are_taken_and_nothing_sounds(
    room_settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    extra = tmp_path / "more-playlists"
    extra.mkdir()
    shipped = (room_settings.playlists_dir[0] / "demo_mdma.yaml").read_text()
    (extra / "calm_mdma.yaml").write_text(shipped.replace("id: demo_mdma", "id: calm_mdma", 1))
    settings = room_settings.model_copy(update={"playlists_dir": (*room_settings.playlists_dir, extra)})
    async with serve(settings, clock) as svc:
        await ready(svc)
        await post(svc, "/session", {"preset": "mdma"}, 201)
        await post(svc, "/session/dose", {"amount": "120 mg"})
        await clock.advance(60)
        await music_state(svc, "playing")
        await post(svc, "/panic")
        await music_state(svc, "paused")
        # What the record and the next music need stays possible ...
        await post(svc, "/session/facilitators", {"name": "A. Rivera"})
        await post(svc, "/session/readings", {"readings": {"systolic_mmhg": 150, "diastolic_mmhg": 95}})
        await post(svc, "/audio/talk", {"on": True})
        await post(svc, "/audio/talk", {"on": False})
        options = (await svc.client.get("/api/rooms/one/audio/playlists")).json()
        [other] = [o["id"] for o in options if o["available"] and not o["playing"]]
        await post(svc, "/audio/playlist", {"playlist": other})
        # ... and none of it brings the music back during the panic.
        await clock.advance(30)
        assert svc.runtime.rooms["one"].music.decks.status().state == "paused"
        for body in ({"action": "pause"}, {"action": "skip"}, {"action": "resume"}):
            r = await svc.client.post("/api/rooms/one/audio", json=body)
            assert r.status_code == 409 and "clear the panic" in r.json()["detail"], (body, r.text)
        await post(svc, "/panic/clear", {"mode": "hold"})
        await post(svc, "/panic/clear", {"mode": "restore"})
        await music_state(svc, "playing")
        assert (await state(svc))["audio"]["playlist"] == other  # type: ignore[index]
        session_id = (await state(svc))["session"]["session_id"]  # type: ignore[index]
        events = (await svc.client.get(f"/api/sessions/{session_id}/events")).json()
        kinds = [e["type"] for e in events]
        for kind in ("facilitator_signed_in", "reading", "talk", "playlist_changed", "panic_cleared"):
            assert kind in kinds, kind
        # The hold a "hold" clear puts the session in, and the resume of "restore", say who.
        assert [(e["type"], e["data"].get("by")) for e in events if e["type"] in ("hold", "resume")] == [
            ("hold", "http:open"),
            ("resume", "http:open"),
        ]


class PauseFails(FakePlayer):
    async def pause(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("the sound card went away")


async def test_failing_background_work_is_shown_in_health(
    room_settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with serve(room_settings, clock, player_factory=lambda room, s: PauseFails(clock=clock)) as svc:
        await ready(svc)
        await post(svc, "/session", {"preset": "psilocybin"}, 201)
        await music_state(svc, "playing")
        import aiomqtt

        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as button:
            await button.publish("arcroom/one/panic", json.dumps({"by": "wall"}), qos=1)
        async with asyncio.timeout(5):
            while "panic audio one" not in (await svc.client.get("/api/health")).json()["failed_tasks"]:
                await asyncio.sleep(0.02)
        health = (await svc.client.get("/api/health")).json()
        assert health["status"] == "degraded"
        assert "the sound card went away" in health["failed_tasks"]["panic audio one"]["error"]
        assert (await state(svc))["panic"]["by"] == "mqtt:wall"  # the panic itself went through  # type: ignore[index]

        async def broken() -> None:
            raise ValueError("broken on purpose")

        svc.runtime.supervisor.start("broken", broken)
        async with asyncio.timeout(5):
            while "broken" not in (await svc.client.get("/api/health")).json()["failed_tasks"]:
                await asyncio.sleep(0.02)
        failure = (await svc.client.get("/api/health")).json()["failed_tasks"]["broken"]
        assert failure["error"] == "ValueError: broken on purpose" and failure["running"] is True
