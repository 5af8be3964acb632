"""Drill: two instances on one PostgreSQL and one Mosquitto. One leads, the other stands by; the
leader killed with SIGKILL mid-session, the standby takes the rooms over, the session goes on and a
panic reaches the lamp through it; the old leader started again stands by."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from app.mqtt import topics
from app.simulators.base import SimulatedLight
from tests.drills.service import ServiceProcess
from tests.drills.test_service_kill import brightness_commands, lamp, until
from tests.support import CLIENT_LIMITS, Mosquitto, Postgres, free_port, observer, sniffing, unique

TAKEOVER_S = 5.0


def instance(name: str, workdir: Path, env: dict[str, str]) -> ServiceProcess:
    home = workdir / name
    home.mkdir()
    return ServiceProcess(home, {**env, "ARCROOM_INSTANCE": name, "ARCROOM_MQTT_CLIENT_ID": unique(f"arcroom-{name}")})


async def health(client: httpx.AsyncClient, service: ServiceProcess) -> dict[str, Any]:
    answer: dict[str, Any] = (await client.get(f"{service.url}/api/health")).json()
    return answer


Pair = tuple[ServiceProcess, ServiceProcess]


def lamp_room(lamp_topic: str) -> str:
    """A rooms file: room one with a simulated Shelly lamp on `lamp_topic`, no audio output."""
    return (
        "rooms:\n  - id: one\n    name: Room one\n    audio: {output: dummy}\n    lights:\n"
        f"      - {{name: lamp, profile: shelly_gen1, topic: {lamp_topic}, role: lamp}}\n"
    )


def pair(tmp_path: Path, mosquitto: Mosquitto, demo_music: Path, postgres: Postgres, rooms_yaml: str) -> Pair:
    """Instances a and b on one new database and the broker, with these rooms (not started)."""
    rooms = tmp_path / "rooms.yaml"
    rooms.write_text(rooms_yaml)
    env = {
        "ARCROOM_DATABASE": postgres.database(unique("standby").replace("-", "_")),
        "ARCROOM_MQTT_URL": mosquitto.url,
        "ARCROOM_ROOMS_FILE": str(rooms),
        "ARCROOM_DEMO_MUSIC_DIR": str(demo_music),
    }
    return instance("a", tmp_path, env), instance("b", tmp_path, env)


async def leads(c: httpx.AsyncClient, service: ServiceProcess, since: float | None = None) -> float:
    """Wait until `service` runs the rooms; how long that took (from `since`, monotonic, if given)."""
    started = time.monotonic() if since is None else since
    async with asyncio.timeout(20):
        while (seen := await health(c, service))["status"] == "standby":
            await asyncio.sleep(0.02)
    assert seen["role"] == "leader", seen
    return time.monotonic() - started


@asynccontextmanager
async def under_way(
    tmp_path: Path, mosquitto: Mosquitto, demo_music: Path, postgres: Postgres
) -> AsyncIterator[tuple[ServiceProcess, ServiceProcess, SimulatedLight, httpx.AsyncClient, str]]:
    """a leads and b stands by; a session runs in room one, its dose given and the lamp commanded."""
    lamp_topic = unique("standby")
    a, b = pair(tmp_path, mosquitto, demo_music, postgres, lamp_room(lamp_topic))
    async with lamp(mosquitto, lamp_topic) as light, httpx.AsyncClient(timeout=10, limits=CLIENT_LIMITS) as c:
        try:
            a.start()
            await leads(c, a)
            b.start()
            r = await c.post(f"{a.url}/api/rooms/one/session", json={"preset": "psilocybin"})
            assert r.status_code == 201, r.text
            assert (await c.post(f"{a.url}/api/rooms/one/session/dose")).status_code == 200
            await until(lambda: light.target.brightness_pct is not None, "the lamp commanded by the leader")
            yield a, b, light, c, r.json()["session_id"]
        finally:
            a.stop()
            b.stop()


async def ha_sees(mosquitto: Mosquitto, leader: str) -> None:
    """Home Assistant's view, as the broker keeps it: the service is "online" (a dead leader's last
    will said "offline"; the new leader says "online" over it), and the leader is `leader`."""
    async with asyncio.timeout(10):
        while True:
            kept: dict[str, bytes] = {}
            async with observer(mosquitto.port, topics.STATUS, topics.SERVICE_STATE) as client:
                async for message in client.messages:  # each topic's retained message first
                    kept[message.topic.value] = bytes(message.payload)  # type: ignore[arg-type]
                    if len(kept) == 2:
                        break
            if kept[topics.STATUS] == b"online" and json.loads(kept[topics.SERVICE_STATE])["instance"] == leader:
                return
            await asyncio.sleep(0.1)


async def test_the_standby_takes_over_when_the_leader_is_killed_and_the_old_leader_stands_by(
    tmp_path: Path, mosquitto: Mosquitto, demo_music: Path, postgres: Postgres
) -> None:
    lamp_topic = unique("standby")
    a, b = pair(tmp_path, mosquitto, demo_music, postgres, lamp_room(lamp_topic))
    async with (
        lamp(mosquitto, lamp_topic) as light,
        httpx.AsyncClient(timeout=10, limits=CLIENT_LIMITS) as c,
        sniffing(mosquitto.port) as broker,
    ):
        try:
            a.start()
            await leads(c, a)
            b.start()
            async with asyncio.timeout(10):
                while (seen := await health(c, b)).get("leader") is None:
                    await asyncio.sleep(0.05)
            assert (seen["status"], seen["role"], seen["leader"]) == ("standby", "standby", "a"), seen
            r = await c.post(f"{a.url}/api/rooms/one/session", json={"preset": "psilocybin"})
            assert r.status_code == 201, r.text
            session_id = r.json()["session_id"]
            # The standby answers for the leader: the room's state, and a command passed on.
            r = await c.get(f"{b.url}/api/rooms/one/state")
            assert r.status_code == 200 and r.json()["session"]["session_id"] == session_id, r.text
            r = await c.post(f"{b.url}/api/rooms/one/session/note", json={"text": "through the standby"})
            assert r.status_code == 200, r.text
            assert (await c.post(f"{a.url}/api/rooms/one/session/dose")).status_code == 200
            await until(lambda: light.target.brightness_pct is not None, "the lamp commanded by the leader")
            # A panic sent to the standby: the leader answers it (its answer names the session).
            r = await c.post(f"{b.url}/api/rooms/one/panic")
            assert r.status_code == 200 and r.json()["session_id"] == session_id, r.text
            await until(lambda: light.state().brightness_pct == 100, "the lamp at 100 % through the standby")
            r = await c.post(f"{a.url}/api/rooms/one/panic/clear", json={"mode": "restore"})
            assert r.status_code == 200, r.text
            # Mid-fade: the room on its way back down from the panic's 100 %.
            await until(lambda: (light.state().brightness_pct or 100) < 100, "the lamp fading back down")

            a.kill9()
            at_kill = light.state().brightness_pct
            mark = len(light.received)
            took = await leads(c, b)
            print(f"the standby ran the rooms {took:.2f} s after the leader was killed")
            assert took <= TAKEOVER_S, f"takeover took {took:.2f} s"
            # The new leader goes on with the fade from where the lamp is: down, never back up, no dip.
            await asyncio.sleep(2.0)
            fade = [at_kill, *(cmd["brightness"] for cmd in brightness_commands(light, mark))]
            print(f"the lamp from the kill on: {fade}")
            assert len(fade) > 1 and fade == sorted(fade, reverse=True), fade

            view = (await c.get(f"{b.url}/api/rooms/one/state")).json()
            assert view["session"]["session_id"] == session_id and view["session"]["status"] == "running"
            await ha_sees(mosquitto, "b")
            mark = len(light.received)
            assert (await c.post(f"{b.url}/api/rooms/one/panic")).status_code == 200
            await until(lambda: light.state().brightness_pct == 100, "the lamp at 100 % by the new leader")
            assert [cmd["brightness"] for cmd in brightness_commands(light, mark)][-1] == 100

            a.start()  # back: it stands by, and names the leader once it has asked the database
            async with asyncio.timeout(10):
                while (seen := await health(c, a)).get("leader") is None:
                    await asyncio.sleep(0.05)
            assert (seen["status"], seen["role"], seen["leader"]) == ("standby", "standby", "b"), seen
            events = (await c.get(f"{b.url}/api/sessions/{session_id}/events")).json()
            assert [e["seq"] for e in events] == list(range(len(events)))  # every event once, in order
            assert [e["type"] for e in events].count("panic") == 2  # through the standby, then the new leader
            assert [e["data"]["text"] for e in events if e["type"] == "note"] == ["through the standby"]
            # Announced once, whoever led: the new leader announces nothing the old one had.
            announced = broker.json_to(topics.events("one"))
            cues = [e["id"] for e in announced if e["event_type"] == "cue"]
            phases = [e["phase"] for e in announced if e["event_type"] == "phase"]
            assert cues and len(cues) == len(set(cues)), announced
            assert phases and len(phases) == len(set(phases)), announced
        finally:
            a.stop()
            b.stop()


async def test_a_frozen_leader_is_replaced_and_once_thawed_sends_nothing_to_the_lights(
    tmp_path: Path, demo_music: Path, postgres: Postgres
) -> None:
    mosquitto = Mosquitto(tmp_path, log_publishes=True)  # a broker of its own: its log names who published
    mosquitto.start()
    try:
        async with under_way(tmp_path, mosquitto, demo_music, postgres) as (a, b, light, c, _):
            a.freeze()  # its connections stay open: only the lease's timeout can tell
            frozen_at = time.monotonic()
            # A panic at once, to the standby, during the takeover: it does not wait for the election.
            panicked = len(light.received)
            r = await c.post(f"{b.url}/api/rooms/one/panic")
            assert r.status_code == 200 and r.json()["lights"] == [{"name": "lamp", "status": "sent"}], r.text
            await until(lambda: light.state().brightness_pct == 100, "the lamp at 100 % from the standby")
            took = await leads(c, b, since=frozen_at)
            print(f"the standby ran the rooms {took:.2f} s after the leader froze")
            assert took <= TAKEOVER_S, f"takeover took {took:.2f} s"
            # The new leader takes the panic up (the standby's report): the room stays in it, no dip.
            async with asyncio.timeout(10):
                while (view := (await c.get(f"{b.url}/api/rooms/one/state")).json())["panic"]["mode"] != "panic":
                    await asyncio.sleep(0.05)
            assert view["session"]["status"] == "panic"
            # A fade step the leader wrote just before it froze may still land first; after the
            # standby's panic scene, nothing but the panic scene.
            sent = [cmd["brightness"] for cmd in brightness_commands(light, panicked)]
            assert 100 in sent and set(sent[sent.index(100) :]) == {100}, sent
            await asyncio.sleep(1.0)
            mark = len(light.received)
            a_id = a.env["ARCROOM_MQTT_CLIENT_ID"]
            assert topics.state("one") in mosquitto.published_by(a_id)  # the log does name it, while it led
            heard = mosquitto.log.stat().st_size
            a.thaw()  # whatever it was about to send (a fade's next step), it must not
            async with asyncio.timeout(20):
                while ((seen := await health(c, a)).get("status"), seen.get("leader")) != ("standby", "b"):
                    await asyncio.sleep(0.05)
            await asyncio.sleep(2.0)
            assert brightness_commands(light, mark) == [], "the thawed leader commanded the lamp"
            assert mosquitto.published_by(a_id, heard) == [], "the thawed leader published"
            assert (seen["role"], seen["leader"]) == ("standby", "b"), seen
            assert light.state().brightness_pct == 100
            # The frozen leader's last will ("offline") came when the broker gave up on it: Home
            # Assistant's entities are available again, with the new leader.
            await ha_sees(mosquitto, "b")
    finally:
        mosquitto.stop()


async def test_a_leader_killed_mid_panic_leaves_the_room_in_panic_and_the_new_leader_restores_it(
    tmp_path: Path, mosquitto: Mosquitto, demo_music: Path, postgres: Postgres
) -> None:
    async with under_way(tmp_path, mosquitto, demo_music, postgres) as (a, b, light, c, session_id):
        r = await c.post(f"{a.url}/api/rooms/one/panic")
        assert r.status_code == 200, r.text
        await until(lambda: light.state().brightness_pct == 100, "the lamp at 100 % by the leader")
        panicked = len(light.received)
        a.kill9()
        took = await leads(c, b)
        print(f"the standby ran the rooms {took:.2f} s after the leader was killed mid-panic")
        assert took <= TAKEOVER_S, f"takeover took {took:.2f} s"
        # The panic holds exactly: the room and its session in panic, the lamp given nothing else.
        view = (await c.get(f"{b.url}/api/rooms/one/state")).json()
        assert (view["panic"]["mode"], view["session"]["status"]) == ("panic", "panic"), view
        await ha_sees(mosquitto, "b")
        assert set(cmd["brightness"] for cmd in brightness_commands(light, panicked)) <= {100}
        assert light.state().brightness_pct == 100

        # The new leader brings the room back gently, and the session goes on.
        r = await c.post(f"{b.url}/api/rooms/one/panic/clear", json={"mode": "restore"})
        assert r.status_code == 200, r.text
        await until(lambda: (light.target.brightness_pct or 100) < 100, "the lamp on its way back down")
        view = (await c.get(f"{b.url}/api/rooms/one/state")).json()
        assert (view["panic"]["mode"], view["session"]["status"]) == (None, "running"), view
        events = (await c.get(f"{b.url}/api/sessions/{session_id}/events")).json()
        assert [e["seq"] for e in events] == list(range(len(events)))  # every event once, in order
        kinds = [e["type"] for e in events]
        assert kinds.count("panic") == 1 and kinds.count("panic_cleared") == 1, kinds


async def test_a_manual_override_and_a_held_panic_are_kept_exactly_across_takeovers(
    tmp_path: Path, mosquitto: Mosquitto, demo_music: Path, postgres: Postgres
) -> None:
    async with under_way(tmp_path, mosquitto, demo_music, postgres) as (a, b, light, c, _):
        # The therapist sets the room by hand: it holds until the next phase, whoever leads.
        r = await c.put(f"{a.url}/api/rooms/one/lights", json={"brightness": 37, "transition": 0})
        assert r.status_code == 200, r.text
        await until(lambda: light.state().brightness_pct == 37, "the lamp at 37 % by hand")
        mark = len(light.received)
        a.kill9()
        assert await leads(c, b) <= TAKEOVER_S
        async with asyncio.timeout(10):  # once the new leader has looked at the lamp and re-asserted the room
            while (lighting := (await c.get(f"{b.url}/api/rooms/one/state")).json()["lighting"])["source"] is None:
                await asyncio.sleep(0.05)
        assert lighting["source"] == "manual" and lighting["override"] is not None, lighting
        await asyncio.sleep(1.0)
        assert set(cmd["brightness"] for cmd in brightness_commands(light, mark)) <= {37}
        assert light.state().brightness_pct == 37

        # A panic, then "hold": bright and quiet until someone restores the room, whoever leads.
        assert (await c.post(f"{b.url}/api/rooms/one/panic")).status_code == 200
        r = await c.post(f"{b.url}/api/rooms/one/panic/clear", json={"mode": "hold"})
        assert r.status_code == 200, r.text
        a.start()  # stands by
        async with asyncio.timeout(10):
            while (await health(c, a)).get("leader") != "b":
                await asyncio.sleep(0.05)
        mark = len(light.received)
        b.kill9()
        assert await leads(c, a) <= TAKEOVER_S
        async with asyncio.timeout(10):
            while (view := (await c.get(f"{a.url}/api/rooms/one/state")).json())["lighting"]["source"] is None:
                await asyncio.sleep(0.05)
        assert (view["panic"]["mode"], view["lighting"]["source"]) == ("held", "held"), view["panic"]
        await ha_sees(mosquitto, "a")
        await asyncio.sleep(1.0)
        assert set(cmd["brightness"] for cmd in brightness_commands(light, mark)) <= {100}
        assert light.state().brightness_pct == 100


async def test_a_standby_the_leader_does_not_answer_shows_the_leaders_views_from_the_broker_and_the_record(
    tmp_path: Path, mosquitto: Mosquitto, demo_music: Path, postgres: Postgres
) -> None:
    lamp_topic = unique("standby")
    a, b = pair(tmp_path, mosquitto, demo_music, postgres, lamp_room(lamp_topic))
    # The leader is up and on the broker, but the address it gives does not reach it from b (a wrong
    # address, the link between the two machines down): what b passes on never arrives.
    a.env["ARCROOM_PUBLIC_URL"] = f"http://127.0.0.1:{free_port()}"
    async with lamp(mosquitto, lamp_topic) as light, httpx.AsyncClient(timeout=10, limits=CLIENT_LIMITS) as c:
        try:
            a.start()
            await leads(c, a)
            b.start()
            body = {"preset": "psilocybin", "client_label": "R.K.", "intention": "to rest"}
            r = await c.post(f"{a.url}/api/rooms/one/session", json=body)
            assert r.status_code == 201, r.text
            session_id = r.json()["session_id"]
            async with asyncio.timeout(10):  # once the leader's view of the session is on the broker
                while (r := await c.get(f"{b.url}/api/rooms/one/state")).status_code != 200 or (
                    r.json()["session"] or {}
                ).get("session_id") != session_id:
                    await asyncio.sleep(0.1)
            view = r.json()
            # The label and the intention, kept off the broker, from the record.
            assert (view["session"]["client_label"], view["session"]["intention"]) == ("R.K.", "to rest")
            # Every command refused from here, saying why; the panic is not one of them.
            assert set(view["refused"]) == {"hold", "resume", "lights", "music"}
            assert "a does not answer" in view["refused"]["lights"], view["refused"]
            listed = (await c.get(f"{b.url}/api/rooms")).json()
            assert [room["id"] for room in listed] == ["one"]
            r = await c.post(f"{b.url}/api/rooms/one/session/note", json={"text": "not through"})
            assert r.status_code == 503 and "a leads" in r.json()["detail"], r.text
            assert (await c.get(f"{b.url}/api/rooms/nowhere/state")).status_code == 404

            # The stream follows the leader's views as it publishes them: a panic on the leader shows.
            async with c.stream("GET", f"{b.url}/api/rooms/one/stream") as stream:
                states = sse_states(stream)
                first = await anext(states)
                assert first["panic"]["active"] is False and first["session"]["client_label"] == "R.K."
                assert (await c.post(f"{a.url}/api/rooms/one/panic")).status_code == 200
                async with asyncio.timeout(10):
                    while not (await anext(states))["panic"]["active"]:
                        pass
            await until(lambda: light.state().brightness_pct == 100, "the lamp at 100 % by the leader")
        finally:
            a.stop()
            b.stop()


async def sse_states(stream: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The `state` events of a server-sent event stream, parsed."""
    event = ""
    async for line in stream.aiter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "state":
            yield json.loads(line.removeprefix("data: "))
