"""The simulated lights against a real Mosquitto, driven and watched by separate plain aiomqtt clients.

Expectations here are written from the firmware documentation (topics, payload spellings, scales),
not read back from the simulators, so a simulator that drifts from its firmware fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import pytest

from app.simulators import FAMILIES, SimState, SimulatedLight, make_simulator
from tests.support import WAIT_S, Mosquitto, next_message, observer, unique

RPC_SRC = "arcroom-test"  # the Shelly Gen2 RPC client name the tests use: replies come on <src>/rpc


def dumps(value: object) -> bytes:
    return json.dumps(value).encode()


# --- what each firmware's documentation says ------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """One firmware family as documented: where to command it, where it reports, what it says."""

    name: str
    topic: str  # what make_simulator is given
    availability_topic: str
    online: bytes
    offline: bytes
    state_topic: str
    command: Callable[[int, float], tuple[str, bytes]]  # (percent, transition s) -> a realistic command
    parse: Callable[[bytes], tuple[bool, float] | None]  # a state report -> (on, percent); None: not one
    malformed: list[tuple[str, bytes]] = field(default_factory=list)
    state_retained: bool = False


def _tasmota_report(payload: bytes) -> tuple[bool, float] | None:
    body = json.loads(payload)
    if "Dimmer" not in body:
        return None  # {"Fade":"ON"}, {"Speed":4}: replies to the other Backlog commands
    return body["POWER"] == "ON", float(body["Dimmer"])


def _tasmota_command(topic: str) -> Callable[[int, float], tuple[str, bytes]]:
    def command(pct: int, seconds: float) -> tuple[str, bytes]:
        if not seconds:
            return f"cmnd/{topic}/Backlog", f"Fade 0; Dimmer {pct}".encode()
        # Speed is 0.5 s units for a full 0-100 % fade; from off to pct % takes Speed * 0.5 * pct/100.
        speed = round(seconds / 0.5 / (pct / 100))
        return f"cmnd/{topic}/Backlog", f"Fade 1; Speed {speed}; Dimmer {pct}".encode()

    return command


def _gen2_report(payload: bytes) -> tuple[bool, float] | None:
    frame = json.loads(payload)
    if frame.get("method") not in ("NotifyStatus", "NotifyFullStatus"):
        return None
    status = frame["params"]["light:0"]
    return status["output"], float(status["brightness"])


def family(name: str) -> Family:
    if name == "zigbee2mqtt":
        t = unique("lamp")
        return Family(
            name,
            t,
            f"zigbee2mqtt/{t}/availability",
            b'{"state":"online"}',
            b'{"state":"offline"}',
            f"zigbee2mqtt/{t}",
            lambda pct, s: (
                f"zigbee2mqtt/{t}/set",
                dumps({"state": "ON", "brightness": round(pct * 2.54), "transition": s}),
            ),
            lambda p: (json.loads(p)["state"] == "ON", json.loads(p)["brightness"] / 254 * 100),
            malformed=[
                (f"zigbee2mqtt/{t}/set", b"not json"),
                (f"zigbee2mqtt/{t}/set", b'{"brightness": "lots"}'),
                (f"zigbee2mqtt/{t}/set", b'{"state": "SIDEWAYS"}'),
                (f"zigbee2mqtt/{t}/set", b'{"state": "ON", "transition": "slow"}'),
                (f"zigbee2mqtt/{t}/set", b"[1, 2]"),
            ],
        )
    if name == "tasmota":
        t = unique("bulb")
        return Family(
            name,
            t,
            f"tele/{t}/LWT",
            b"Online",
            b"Offline",
            f"stat/{t}/RESULT",
            _tasmota_command(t),
            _tasmota_report,
            malformed=[
                (f"cmnd/{t}/Dimmer", b"lots"),
                (f"cmnd/{t}/Power", b"sideways"),
                (f"cmnd/{t}/CT", b"9000"),
                (f"cmnd/{t}/Color", b"not-a-colour"),
                (f"cmnd/{t}/Dimmer", b"\xff\xfe"),
            ],
        )
    if name == "shelly_gen1":
        t = unique("shellybulbduo")
        return Family(
            name,
            t,
            f"shellies/{t}/online",
            b"true",
            b"false",
            f"shellies/{t}/light/0/status",
            lambda pct, s: (
                f"shellies/{t}/light/0/set",
                dumps({"turn": "on", "brightness": pct, "transition": round(s * 1000)}),
            ),
            lambda p: (json.loads(p)["ison"], float(json.loads(p)["brightness"])),
            malformed=[
                (f"shellies/{t}/light/0/set", b"{"),
                (f"shellies/{t}/light/0/set", b'"on"'),
                (f"shellies/{t}/light/0/set", b'{"turn": "sideways"}'),
                (f"shellies/{t}/light/0/set", b'{"turn": "on", "brightness": "lots"}'),
                (f"shellies/{t}/light/0/command", b"sideways"),
            ],
        )
    if name == "shelly_gen2":
        t = unique("shellyplusdimmer")

        def rpc(params: dict[str, Any], **frame: Any) -> bytes:
            return dumps({"id": 7, "src": RPC_SRC, "method": "Light.Set", "params": params, **frame})

        return Family(
            name,
            t,
            f"{t}/online",
            b"true",
            b"false",
            f"{t}/events/rpc",
            lambda pct, s: (f"{t}/rpc", rpc({"id": 0, "on": True, "brightness": pct, "transition_duration": s})),
            _gen2_report,
            malformed=[
                (f"{t}/rpc", b"{"),
                (f"{t}/rpc", rpc({"id": 0, "on": "yes"})),
                (f"{t}/rpc", rpc({"on": True})),  # no component id
                (f"{t}/rpc", rpc({"id": 0, "brightness": 400})),
                (f"{t}/rpc", dumps({"id": 8, "method": "Light.Set", "params": {"id": 0, "on": True}})),
            ],
        )
    if name == "wled":
        t = unique("wled")
        return Family(
            name,
            t,
            f"wled/{t}/status",
            b"online",
            b"offline",
            f"wled/{t}/g",
            lambda pct, s: (f"wled/{t}/api", dumps({"on": True, "bri": round(pct * 2.55), "tt": round(s * 10)})),
            lambda p: (int(p) > 0, int(p) / 255 * 100),
            malformed=[
                (f"wled/{t}/api", b"{bad json"),
                (f"wled/{t}/api", b'{"bri": "lots"}'),
                (f"wled/{t}/api", b'{"on": "yes"}'),
                (f"wled/{t}/api", b'{"col": [[255, 0, 0]]}'),  # top level: not where WLED reads col
                (f"wled/{t}/api", b"[1, 2]"),
            ],
        )
    if name == "esphome":
        node = unique("node")
        t = f"{node}/light/ceiling"
        return Family(
            name,
            t,
            f"{node}/status",
            b"online",
            b"offline",
            f"{t}/state",
            lambda pct, s: (
                f"{t}/command",
                dumps({"state": "ON", "brightness": round(pct * 2.55), "transition": round(s)}),
            ),
            lambda p: (json.loads(p)["state"] == "ON", json.loads(p)["brightness"] / 255 * 100),
            malformed=[
                (f"{t}/command", b"{"),
                (f"{t}/command", b"[1]"),
                (f"{t}/command", b'{"state": "SIDEWAYS"}'),
                (f"{t}/command", b'{"brightness": "lots"}'),
                (f"{t}/command", b'{"brightness": 300}'),
            ],
            state_retained=True,
        )
    if name == "ha_json":
        t = unique("room") + "/ceiling"
        return Family(
            name,
            t,
            f"{t}/availability",
            b"online",
            b"offline",
            f"{t}/state",
            lambda pct, s: (f"{t}/set", dumps({"state": "ON", "brightness": round(pct * 2.55), "transition": s})),
            lambda p: (json.loads(p)["state"] == "ON", json.loads(p)["brightness"] / 255 * 100),
            malformed=[
                (f"{t}/set", b"{"),
                (f"{t}/set", b'{"state": "ON", "brightness": "lots"}'),
                (f"{t}/set", b'{"state": "SIDEWAYS"}'),
                (f"{t}/set", b'{"state": "ON", "transition": -1}'),
                (f"{t}/set", b'{"state": "ON", "color": "red"}'),
            ],
            state_retained=True,
        )
    raise AssertionError(name)


# --- plumbing ---------------------------------------------------------------------------------------


def payload_of(message: aiomqtt.Message) -> bytes:
    assert isinstance(message.payload, bytes)
    return message.payload


async def retained(port: int, topic: str) -> bytes:
    """What a client that subscribes now is told straight away: the retained payload."""
    async with observer(port, topic) as client:
        message = await next_message(client, topic)
        assert message.retain, f"{topic}: got a live message, not the retained one"
        return payload_of(message)


async def nothing_retained(port: int, topic: str, wait_s: float = 0.5) -> None:
    async with observer(port, topic) as client:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                async for message in client.messages:
                    raise AssertionError(f"{topic} is retained: {message.payload!r}")


async def eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.01)


@asynccontextmanager
async def running(light: SimulatedLight, port: int) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(light.run("127.0.0.1", port))
    try:
        async with asyncio.timeout(WAIT_S):
            await light.wait_connected()
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def publish(port: int, topic: str, payload: bytes) -> None:
    async with observer(port) as client:
        await client.publish(topic, payload, qos=1)


async def report(
    client: aiomqtt.Client, fam: Family, accept: Callable[[tuple[bool, float]], bool] = lambda r: True
) -> tuple[bool, float]:
    """The next state report on the family's state topic that `accept` likes."""
    found: list[tuple[bool, float]] = []

    def wanted(message: aiomqtt.Message) -> bool:
        parsed = fam.parse(payload_of(message))
        if parsed is not None and accept(parsed):
            found.append(parsed)
            return True
        return False

    await next_message(client, fam.state_topic, wanted)
    return found[0]


def close_to(a: float, b: float, tolerance: float = 0.6) -> bool:
    return abs(a - b) <= tolerance


families = pytest.mark.parametrize("name", FAMILIES)


# --- every family ---------------------------------------------------------------------------------


def test_make_simulator_knows_the_seven_families() -> None:
    assert set(FAMILIES) == {"zigbee2mqtt", "tasmota", "shelly_gen1", "shelly_gen2", "wled", "esphome", "ha_json"}
    for name in FAMILIES:
        light = make_simulator(name, "n/light/x" if name == "esphome" else "x")
        assert light.family == name and light.topic == ("n/light/x" if name == "esphome" else "x")
        assert isinstance(light.state(), SimState)
        assert not light.state().on and light.state().brightness_pct == 0 and light.state() == light.target
    with pytest.raises(ValueError, match="unknown light family"):
        make_simulator("hue_bridge", "x")


@families
async def test_a_command_is_reported_on_the_documented_topic(name: str, mosquitto: Mosquitto) -> None:
    fam = family(name)
    light = make_simulator(name, fam.topic)
    async with (
        observer(mosquitto.port, fam.availability_topic, fam.state_topic) as watcher,
        running(light, mosquitto.port),
    ):
        await next_message(watcher, fam.availability_topic, lambda m: m.payload == fam.online)
        assert await retained(mosquitto.port, fam.availability_topic) == fam.online

        topic, payload = fam.command(40, 0)
        await publish(mosquitto.port, topic, payload)
        on, pct = await report(watcher, fam, lambda r: r[0])

        assert on and close_to(pct, 40)
        assert (topic, payload) in light.received
        target = light.target
        assert target.on and close_to(target.brightness_pct, 40)
        assert light.state() == target  # no transition asked for: there already
        if fam.state_retained:
            assert fam.parse(await retained(mosquitto.port, fam.state_topic)) == (on, pct)


@families
async def test_a_transition_is_followed_not_jumped(name: str, mosquitto: Mosquitto) -> None:
    fam = family(name)
    light = make_simulator(name, fam.topic)
    async with observer(mosquitto.port, fam.state_topic) as watcher, running(light, mosquitto.port):
        topic, payload = fam.command(80, 2)
        await publish(mosquitto.port, topic, payload)
        on, pct = await report(watcher, fam, lambda r: r[0])

        # Firmware reports where it is going, at once.
        assert on and close_to(pct, 80)
        assert close_to(light.target.brightness_pct, 80)
        assert light.transition_s == pytest.approx(2.0, abs=0.05)
        # The light itself is on its way: past the start, short of the target.
        await eventually(lambda: light.state().brightness_pct > 0)
        midway = light.state()
        assert midway.on and 0 < midway.brightness_pct < light.target.brightness_pct


@families
async def test_malformed_commands_change_nothing_and_the_light_keeps_working(name: str, mosquitto: Mosquitto) -> None:
    fam = family(name)
    light = make_simulator(name, fam.topic)
    before = light.target
    async with observer(mosquitto.port, fam.state_topic) as watcher, running(light, mosquitto.port):
        for topic, payload in fam.malformed:
            await publish(mosquitto.port, topic, payload)
        marker_topic, marker = fam.command(30, 0)
        await publish(mosquitto.port, marker_topic, marker)

        seen: list[tuple[bool, float]] = []

        def the_good_one(parsed: tuple[bool, float]) -> bool:
            seen.append(parsed)
            return parsed[0] and close_to(parsed[1], 30)

        await report(watcher, fam, the_good_one)
        # Whatever the light said before the good command (a Tasmota query answer, a retained state),
        # it was still off: none of the bad ones took effect.
        assert all(not on for on, _ in seen[:-1])
        assert light.connected
        assert all(m in light.received for m in fam.malformed)
        assert light.target.on and close_to(light.target.brightness_pct, 30)
        assert before != light.target


@families
async def test_go_offline_looks_like_the_will_and_go_online_comes_back_with_state(
    name: str, mosquitto: Mosquitto
) -> None:
    fam = family(name)
    light = make_simulator(name, fam.topic)
    async with (
        observer(mosquitto.port, fam.availability_topic, fam.state_topic) as watcher,
        running(light, mosquitto.port),
    ):
        await next_message(watcher, fam.availability_topic, lambda m: m.payload == fam.online)

        await light.go_offline()
        await next_message(watcher, fam.availability_topic, lambda m: m.payload == fam.offline)
        assert await retained(mosquitto.port, fam.availability_topic) == fam.offline

        topic, payload = fam.command(60, 0)
        await publish(mosquitto.port, topic, payload)
        await eventually(lambda: (topic, payload) in light.ignored)
        assert not light.target.on  # an offline light does not act on commands

        await light.go_online()
        await next_message(watcher, fam.availability_topic, lambda m: m.payload == fam.online)
        if name != "tasmota":  # Tasmota says its state on tele/STATE, checked in its own test
            await report(watcher, fam, lambda r: not r[0])  # the state again, for whoever missed it
        assert await retained(mosquitto.port, fam.availability_topic) == fam.online


async def test_a_dropped_connection_lets_the_broker_say_offline_then_the_light_reconnects(mosquitto: Mosquitto) -> None:
    fam = family("tasmota")
    light = make_simulator("tasmota", fam.topic)
    async with (
        observer(mosquitto.port, fam.availability_topic, f"tele/{fam.topic}/STATE") as watcher,
        running(light, mosquitto.port),
    ):
        await next_message(watcher, fam.availability_topic, lambda m: m.payload == b"Online")
        await next_message(watcher, f"tele/{fam.topic}/STATE")

        assert light._client is not None
        sock = light._client._client.socket()
        assert sock is not None
        sock.shutdown(socket.SHUT_RDWR)  # a crash or pulled plug: no DISCONNECT, so the will fires

        await next_message(watcher, fam.availability_topic, lambda m: m.payload == b"Offline")
        await next_message(watcher, fam.availability_topic, lambda m: m.payload == b"Online")
        state = json.loads(payload_of(await next_message(watcher, f"tele/{fam.topic}/STATE")))
        assert state["POWER"] == "OFF" and state["Fade"] == "OFF" and state["Speed"] == 1
        await eventually(lambda: light.connected and light.connects == 2)


async def test_the_output_reaches_the_target_when_the_transition_ends(mosquitto: Mosquitto) -> None:
    fam = family("ha_json")
    light = make_simulator("ha_json", fam.topic)
    async with observer(mosquitto.port, fam.state_topic) as watcher, running(light, mosquitto.port):
        topic, payload = fam.command(50, 1)
        await publish(mosquitto.port, topic, payload)
        await report(watcher, fam, lambda r: r[0])
        await eventually(lambda: light.state() == light.target)
        assert light.state().brightness_pct == pytest.approx(50, abs=0.3)


# --- family details that a service gets wrong ---------------------------------------------------------


async def test_zigbee2mqtt_get_bare_words_and_brightness_zero(mosquitto: Mosquitto) -> None:
    fam = family("zigbee2mqtt")
    base = f"zigbee2mqtt/{fam.topic}"
    light = make_simulator("zigbee2mqtt", fam.topic)
    async with observer(mosquitto.port, base) as watcher, running(light, mosquitto.port):
        await publish(mosquitto.port, f"{base}/set", b"ON")  # a bare state word is accepted
        await next_message(watcher, base, lambda m: json.loads(payload_of(m))["state"] == "ON")

        await publish(mosquitto.port, f"{base}/set", dumps({"color_temp": 325, "brightness": 215}))
        state = json.loads(payload_of(await next_message(watcher, base, lambda m: b"325" in payload_of(m))))
        assert state == {"state": "ON", "brightness": 215, "color_temp": 325, "color_mode": "color_temp"}
        assert light.target.kelvin == round(1_000_000 / 325)

        await publish(mosquitto.port, f"{base}/get", dumps({"state": ""}))
        assert json.loads(payload_of(await next_message(watcher, base))) == state

        await publish(mosquitto.port, f"{base}/set", dumps({"brightness": 0}))
        state = json.loads(payload_of(await next_message(watcher, base, lambda m: b'"OFF"' in payload_of(m))))
        assert state["state"] == "OFF" and state["brightness"] == 0 and not light.target.on

        await publish(mosquitto.port, f"{base}/set", dumps({"color": {"hex": "#FF0000"}}))
        state = json.loads(payload_of(await next_message(watcher, base)))
        assert state["color_mode"] == "xy" and state["color"]["x"] == pytest.approx(0.7, abs=0.05)
        assert light.target.rgb == (255, 0, 0)

        # The device option `retain` is documented to default to false.
        await nothing_retained(mosquitto.port, base)


async def test_zigbee2mqtt_state_is_retained_when_the_device_is_configured_so(mosquitto: Mosquitto) -> None:
    fam = family("zigbee2mqtt")
    light = make_simulator("zigbee2mqtt", fam.topic)
    light.retain_state = True  # type: ignore[attr-defined]
    async with observer(mosquitto.port, fam.state_topic) as watcher, running(light, mosquitto.port):
        topic, payload = fam.command(40, 0)
        await publish(mosquitto.port, topic, payload)
        await report(watcher, fam, lambda r: r[0])
        on, pct = fam.parse(await retained(mosquitto.port, fam.state_topic)) or (False, 0.0)
        assert on and close_to(pct, 40)


async def test_tasmota_command_names_are_case_insensitive_and_fade_scales_with_distance(mosquitto: Mosquitto) -> None:
    fam = family("tasmota")
    t = fam.topic
    light = make_simulator("tasmota", t)
    async with observer(mosquitto.port, f"stat/{t}/+") as watcher, running(light, mosquitto.port):
        await publish(mosquitto.port, f"cmnd/{t}/dImMeR", b"100")
        result = json.loads(payload_of(await next_message(watcher, f"stat/{t}/RESULT")))
        assert result["POWER"] == "ON" and result["Dimmer"] == 100
        assert payload_of(await next_message(watcher, f"stat/{t}/POWER")) == b"ON"
        assert light.transition_s == 0  # Fade is off by default

        await publish(mosquitto.port, f"cmnd/{t}/Backlog", b"Fade 1; Speed 4; Dimmer 50")
        replies = [json.loads(payload_of(await next_message(watcher, f"stat/{t}/RESULT"))) for _ in range(3)]
        assert replies[0] == {"Fade": "ON"} and replies[1] == {"Speed": 4} and replies[2]["Dimmer"] == 50
        # Speed 4 = 2 s for 0-100 %; 100 -> 50 % is half of that distance on the brightest channel.
        assert light.transition_s == pytest.approx(1.0, abs=0.05)

        await publish(mosquitto.port, f"cmnd/{t}/CT", b"300")
        assert json.loads(payload_of(await next_message(watcher, f"stat/{t}/RESULT")))["CT"] == 300
        assert light.target.kelvin == round(1_000_000 / 300) and close_to(light.target.brightness_pct, 50)
        await publish(mosquitto.port, f"cmnd/{t}/CT", b"600")  # outside 153..500: ignored, not clamped
        assert json.loads(payload_of(await next_message(watcher, f"stat/{t}/RESULT")))["CT"] == 300

        await publish(mosquitto.port, f"cmnd/{t}/Color", b"128,0,0")  # the colour carries the level
        result = json.loads(payload_of(await next_message(watcher, f"stat/{t}/RESULT")))
        assert result["Dimmer"] == 50 and light.target.rgb == (255, 0, 0)

        await publish(mosquitto.port, f"cmnd/{t}/Frobnicate", b"1")
        assert json.loads(payload_of(await next_message(watcher, f"stat/{t}/RESULT"))) == {"Command": "Unknown"}


async def test_shelly_gen1_clamps_a_transition_to_its_documented_5_s(mosquitto: Mosquitto) -> None:
    fam = family("shelly_gen1")
    light = make_simulator("shelly_gen1", fam.topic)
    async with observer(mosquitto.port, fam.state_topic) as watcher, running(light, mosquitto.port):
        await publish(
            mosquitto.port,
            f"shellies/{fam.topic}/light/0/set",
            dumps({"turn": "on", "brightness": 40, "temp": 3000, "transition": 9000}),
        )
        message = await next_message(watcher, fam.state_topic, lambda m: b'"ison":true' in payload_of(m))
        status = json.loads(payload_of(message))
        assert status["ison"] and status["brightness"] == 40 and status["temp"] == 3000
        assert status["mode"] == "white" and status["transition"] == 5000
        assert light.transition_s == 5.0 and light.target.kelvin == 3000
        await nothing_retained(mosquitto.port, fam.state_topic)  # mqtt_retain is off by default


async def test_shelly_gen2_rpc_replies_errors_and_status(mosquitto: Mosquitto) -> None:
    fam = family("shelly_gen2")
    t = fam.topic
    light = make_simulator("shelly_gen2", t)
    async with observer(mosquitto.port, f"{RPC_SRC}/rpc", fam.state_topic) as watcher, running(light, mosquitto.port):

        async def call(method: str, params: dict[str, Any], request_id: int) -> dict[str, Any]:
            await publish(
                mosquitto.port,
                f"{t}/rpc",
                dumps({"id": request_id, "src": RPC_SRC, "method": method, "params": params}),
            )
            message = await next_message(
                watcher, f"{RPC_SRC}/rpc", lambda m: json.loads(payload_of(m))["id"] == request_id
            )
            reply: dict[str, Any] = json.loads(payload_of(message))
            assert reply["src"] == t and reply["dst"] == RPC_SRC
            return reply

        reply = await call("Light.Set", {"id": 0, "on": True, "brightness": 40, "transition_duration": 1.5}, 1)
        assert reply["result"] is None and "error" not in reply
        notify = json.loads(payload_of(await next_message(watcher, fam.state_topic)))
        assert notify["src"] == t and notify["dst"] == f"{t}/events" and notify["method"] == "NotifyStatus"
        assert notify["params"]["light:0"]["output"] is True and notify["params"]["light:0"]["brightness"] == 40
        assert isinstance(notify["params"]["ts"], float)
        assert light.transition_s == 1.5

        status = (await call("Light.GetStatus", {"id": 0}, 2))["result"]
        assert status["id"] == 0 and status["output"] is True and status["brightness"] == 40

        assert (await call("Light.Dance", {"id": 0}, 3))["error"]["code"] == 404
        assert (await call("Light.Set", {"on": False}, 4))["error"]["code"] == -103
        assert (await call("Light.Set", {"id": 3, "on": False}, 5))["error"]["code"] == -105
        assert light.target.on  # none of the failed calls switched it off

        await call("Light.Set", {"id": 0, "brightness": 70}, 6)  # a level alone does not switch
        await call("Light.Set", {"id": 0, "on": False}, 7)
        await call("Light.Set", {"id": 0, "brightness": 20}, 8)
        assert not light.target.on


async def test_wled_plain_topic_segment_colour_and_cct(mosquitto: Mosquitto) -> None:
    fam = family("wled")
    base = f"wled/{fam.topic}"
    light = make_simulator("wled", fam.topic)
    async with observer(mosquitto.port, f"{base}/g", f"{base}/c") as watcher, running(light, mosquitto.port):
        await publish(mosquitto.port, base, b"128")
        await next_message(watcher, f"{base}/g", lambda m: m.payload == b"128")
        await publish(mosquitto.port, base, b"OFF")
        await next_message(watcher, f"{base}/g", lambda m: m.payload == b"0")
        assert not light.target.on
        await publish(mosquitto.port, base, b"T")  # toggles back to the last brightness
        await next_message(watcher, f"{base}/g", lambda m: m.payload == b"128")

        # Colour and white temperature belong to a segment; a top-level "col" is ignored by WLED.
        await publish(mosquitto.port, f"{base}/api", dumps({"col": [[255, 0, 0]]}))
        await publish(mosquitto.port, f"{base}/api", dumps({"tt": 0, "seg": [{"col": [[0, 0, 255]], "cct": 2700}]}))
        assert payload_of(await next_message(watcher, f"{base}/c", lambda m: m.payload != b"#FFA000")) == b"#0000FF"
        assert light.target.rgb == (0, 0, 255)
        assert light.target.kelvin is not None and abs(light.target.kelvin - 2700) <= 32


async def test_esphome_ignores_a_fractional_transition_but_not_the_rest(mosquitto: Mosquitto) -> None:
    fam = family("esphome")
    light = make_simulator("esphome", fam.topic)
    async with observer(mosquitto.port, fam.state_topic) as watcher, running(light, mosquitto.port):
        await publish(
            mosquitto.port,
            f"{fam.topic}/command",
            dumps({"state": "ON", "brightness": 128, "color_temp": 300, "transition": 1.5}),
        )
        state = json.loads(payload_of(await next_message(watcher, fam.state_topic, lambda m: b'"ON"' in payload_of(m))))
        assert state["brightness"] == 128 and state["color_temp"] == 300 and state["color_mode"] == "color_temp"
        assert light.transition_s == 1.0  # the light's default_transition_length, not 1.5

        await publish(
            mosquitto.port,
            f"{fam.topic}/command",
            dumps({"state": "ON", "color": {"r": 255, "g": 64, "b": 0}, "transition": 0}),
        )
        state = json.loads(
            payload_of(await next_message(watcher, fam.state_topic, lambda m: b'"rgb"' in payload_of(m)))
        )
        assert state["color"] == {"r": 255, "g": 64, "b": 0} and "color_temp" not in state
        assert light.target.rgb == (255, 64, 0) and light.target.kelvin is None


async def test_ha_json_colour_and_colour_temperature_modes(mosquitto: Mosquitto) -> None:
    fam = family("ha_json")
    light = make_simulator("ha_json", fam.topic)
    async with observer(mosquitto.port, fam.state_topic) as watcher, running(light, mosquitto.port):
        await publish(
            mosquitto.port,
            f"{fam.topic}/set",
            dumps({"state": "ON", "brightness": 255, "color": {"r": 255, "g": 128, "b": 0}}),
        )
        state = json.loads(payload_of(await next_message(watcher, fam.state_topic, lambda m: b'"ON"' in payload_of(m))))
        assert state == {"state": "ON", "brightness": 255, "color_mode": "rgb", "color": {"r": 255, "g": 128, "b": 0}}
        assert light.target.rgb == (255, 128, 0)

        await publish(mosquitto.port, f"{fam.topic}/set", dumps({"state": "ON", "color_temp": 250}))
        state = json.loads(
            payload_of(await next_message(watcher, fam.state_topic, lambda m: b"color_temp" in payload_of(m)))
        )
        assert state["color_mode"] == "color_temp" and state["color_temp"] == 250
        assert light.target.kelvin == 4000 and light.target.rgb is None
