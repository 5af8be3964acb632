"""Panic latency, end to end: HTTP request sent -> the last of the room's 8 light commands received.

Real Mosquitto; the service under uvicorn in its own process (real libVLC on its dummy output);
a separate subscriber process timestamps every light command with the system-wide monotonic
clock. Each round panics room r00, waits for its 8 light commands, then clears the panic; every
`--panics-per-session` rounds (20 by default: already far more than a real session sees) r00's
session is ended and a new one dosed, because replaying a session's log costs time in
proportion to its length (bench/replay_cost.py), and hundreds of panics in one
session would measure that instead. `--panics-per-session 0` keeps one session throughout.
"Loaded" adds 19 more rooms of 8 lights with scene fades running, 50 connected SSE clients and
200 API requests a second from another process.

    .venv/bin/python -m bench.panic_latency [--rounds 500] [--mode idle|loaded|both] [--panics-per-session 20]
        [--store sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import queue
import statistics
import time
from collections.abc import Callable

import httpx

from bench.service import running_service

ROOMS = 20
# Room r00's lights: one of each family, and how its panic command reads (100 %).
MEASURED = [
    ("ceiling", "zigbee2mqtt", "r00_ceiling", "zigbee2mqtt/r00_ceiling/set", lambda p: _j(p)["brightness"] == 254),
    ("lamp", "tasmota", "r00_lamp", "cmnd/r00_lamp/Backlog", lambda p: "Dimmer 100" in p),
    ("duo", "shelly_gen1", "r00_duo", "shellies/r00_duo/light/0/set", lambda p: _j(p)["brightness"] == 100),
    ("dimmer", "shelly_gen2", "r00-dimmer", "r00-dimmer/rpc", lambda p: _j(p)["params"]["brightness"] == 100),
    ("strip", "wled", "r00_strip", "wled/r00_strip/api", lambda p: _j(p)["bri"] == 255),
    ("esp", "esphome", "r00-esp/light/lamp", "r00-esp/light/lamp/command", lambda p: _j(p)["brightness"] == 255),
    ("ha", "ha_json", "clinic/r00/ha", "clinic/r00/ha/set", lambda p: _j(p)["brightness"] == 255),
    ("diy", "generic_template", "clinic/r00/diy", "clinic/r00/diy/set", lambda p: _j(p)["brightness"] == 255),
]
ROLES = ["ceiling", "lamp", "lamp", "accent", "accent", "lamp", "accent", "ceiling"]
# Loaded rooms: devices whose long fades Arcroom steps every second (continuous traffic).
LOADED_PROFILES = ["shelly_gen1", "tasmota", "zigbee2mqtt", "shelly_gen1", "tasmota", "wled", "shelly_gen1", "tasmota"]


def _j(payload: str) -> dict:  # type: ignore[type-arg]
    return json.loads(payload)


def _is_panic(check: Callable[[str], bool], payload: str) -> bool:
    try:
        return bool(check(payload))
    except (ValueError, KeyError, TypeError):
        return False


def rooms_yaml() -> str:
    lines = ["rooms:"]
    for r in range(ROOMS):
        room = f"r{r:02d}"
        lines += [f"  - id: {room}", f"    name: Room {r}", "    audio: {output: dummy}", "    lights:"]
        if r == 0:
            for (name, profile, topic, _, _), role in zip(MEASURED, ROLES, strict=False):
                lines.append(f"      - {{name: {name}, profile: {profile}, topic: '{topic}', role: {role}}}")
        else:
            for i, (profile, role) in enumerate(zip(LOADED_PROFILES, ROLES, strict=False)):
                lines.append(f"      - {{name: l{i}, profile: {profile}, topic: '{room}_l{i}', role: {role}}}")
    return "\n".join(lines) + "\n"


def subscriber(port: int, topics: list[str], out: mp.Queue, ready: mp.Event) -> None:  # type: ignore[type-arg]
    """Another process, standing in for the lights: timestamps each command as it arrives."""
    import socket

    import paho.mqtt.client as mqtt

    def on_connect(client: mqtt.Client, *_: object) -> None:
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.subscribe([(t, 0) for t in topics])

    def on_subscribe(*_: object) -> None:
        ready.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        out.put((time.monotonic_ns(), msg.topic, msg.payload.decode()))

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-lights")
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect("127.0.0.1", port)
    client.loop_forever()


def load(base: str, stop: mp.Event, ready: mp.Event) -> None:  # type: ignore[type-arg]
    """Another process: 50 SSE clients and 200 API requests a second on the other rooms."""

    async def sse(client: httpx.AsyncClient, room: str) -> None:
        async with client.stream("GET", f"/api/rooms/{room}/stream") as response:
            async for _ in response.aiter_lines():
                pass

    async def main() -> None:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=base, timeout=None, limits=limits) as client:
            streams = [asyncio.create_task(sse(client, f"r{1 + i % (ROOMS - 1):02d}")) for i in range(50)]
            ready.set()
            interval, n, started = 1 / 200, 0, time.monotonic()
            requests: set[asyncio.Task[httpx.Response]] = set()
            while not stop.is_set():
                room = f"r{1 + n % (ROOMS - 1):02d}"
                request = asyncio.create_task(client.get(f"/api/rooms/{room}/state"))
                requests.add(request)
                request.add_done_callback(requests.discard)
                n += 1
                await asyncio.sleep(max(0.0, started + n * interval - time.monotonic()))
            for task in streams:
                task.cancel()

    asyncio.run(main())


def percentiles(values: list[float]) -> str:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49]:6.2f}  p95 {q[94]:6.2f}  p99 {q[98]:6.2f}  max {max(values):6.2f}"


def new_session(http: httpx.Client) -> None:
    http.post("/api/rooms/r00/session/end", json={"override_reason": "benchmark: next session"})
    http.post("/api/rooms/r00/session", json={"preset": "lsd"}).raise_for_status()
    http.post("/api/rooms/r00/session/dose", json={}).raise_for_status()
    time.sleep(0.5)  # the music starts


def measure(
    http: httpx.Client,
    messages: mp.Queue,  # type: ignore[type-arg]
    rounds: int,
    per_session: int,
) -> dict[str, list[float]]:
    lights_ms, audio_ms, server_ms, rtt_ms, misses = [], [], [], [], 0
    for i in range(rounds):
        if per_session and i and i % per_session == 0:
            new_session(http)
        while not messages.empty():
            messages.get_nowait()
        sent = time.monotonic_ns()
        response = http.post("/api/rooms/r00/panic")
        rtt_ms.append((time.monotonic_ns() - sent) / 1e6)
        body = response.json()
        server_ms.append(body["took_ms"])
        if body["audio"]["confirmed_ms"] is not None:
            audio_ms.append(body["audio"]["confirmed_ms"])
        arrived: dict[str, int] = {}
        deadline = time.monotonic() + 2
        while len(arrived) < len(MEASURED) and time.monotonic() < deadline:
            try:
                at, topic, payload = messages.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            for _, _, _, command_topic, check in MEASURED:
                if topic == command_topic and topic not in arrived and _is_panic(check, payload):
                    arrived[topic] = at
        if len(arrived) < len(MEASURED):
            misses += 1
        else:
            lights_ms.append((max(arrived.values()) - sent) / 1e6)
        http.post("/api/rooms/r00/panic/clear", json={"mode": "restore"})
        time.sleep(0.01)
    if misses:
        print(f"  WARNING: {misses} round(s) did not see all 8 light commands within 2 s")
    return {"lights": lights_ms, "audio": audio_ms, "server": server_ms, "http": rtt_ms}


def report(name: str, results: dict[str, list[float]]) -> None:
    print(f"\n{name}: {len(results['lights'])} panics")
    print(f"  request sent -> last of 8 light commands received (ms): {percentiles(results['lights'])}")
    print(f"  audio paused, confirmed by libVLC, server-side (ms):    {percentiles(results['audio'])}")
    print(f"  panic handled, server-side (ms):                       {percentiles(results['server'])}")
    print(f"  HTTP round trip (ms):                                  {percentiles(results['http'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--mode", choices=["idle", "loaded", "both"], default="both")
    parser.add_argument("--panics-per-session", type=int, default=20)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite", help="where the record is kept")
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    messages: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    ready = ctx.Event()
    with running_service(rooms_yaml(), postgres=args.store == "postgres") as service:
        base = service.base
        lights = ctx.Process(
            target=subscriber, args=(service.broker.port, [m[3] for m in MEASURED], messages, ready), daemon=True
        )
        try:
            with httpx.Client(base_url=base, timeout=10) as http:
                lights.start()
                if not ready.wait(10):
                    raise SystemExit("the subscriber did not connect")
                print(
                    f"Arcroom panic latency: {args.rounds} rounds per mode, room r00 with 8 lights "
                    f"(one per device family), {os.cpu_count()} CPUs, "
                    f"{args.panics_per_session or 'all'} panics per session, record on {args.store}"
                )
                if args.mode in ("idle", "both"):
                    measure(http, messages, 20, args.panics_per_session)  # warm-up
                    report("idle", measure(http, messages, args.rounds, args.panics_per_session))
                if args.mode in ("loaded", "both"):
                    for r in range(1, ROOMS):
                        http.put(f"/api/rooms/r{r:02d}/lights", json={"scene": "peak", "transition": 3600})
                    stop, load_ready = ctx.Event(), ctx.Event()
                    loader = ctx.Process(target=load, args=(base, stop, load_ready), daemon=True)
                    loader.start()
                    load_ready.wait(10)
                    time.sleep(1)
                    try:
                        report(
                            "loaded (19 rooms x 8 lights fading, 50 SSE clients, 200 requests/s)",
                            measure(http, messages, args.rounds, args.panics_per_session),
                        )
                    finally:
                        stop.set()
                        loader.join(5)
                        if loader.is_alive():
                            loader.terminate()
        finally:
            lights.terminate()


if __name__ == "__main__":
    main()
