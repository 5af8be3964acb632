"""Drill: the leader cut off from the database and the broker. It runs in a network namespace of its
own, joined to the rest by a veth pair; the drill takes the pair's link down. The leader must go
quiet within its lease while the other instance takes over, and once the link is back it must send
nothing to the lights and stand by."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.mqtt import topics
from tests.drills.service import ServiceProcess
from tests.drills.test_service_kill import brightness_commands, lamp, until
from tests.drills.test_standby import TAKEOVER_S
from tests.support import CLIENT_LIMITS, Mosquitto, Postgres, unique

TOKEN = "drill-Qm4Lp8Rt2Vw6Yz0Bc3Df7Gh1Jk5Nn9s"
TOKENS = f'[{{"name": "tablet", "role": "therapist", "token": "{TOKEN}"}}]'
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def logged(service: ServiceProcess, what: str) -> float:
    """When the service's log first says `what` (its own clock: both run on this machine)."""
    for line in service.log.read_text().splitlines():
        if what in line:
            return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    raise AssertionError(f"{service.log} never says {what!r}")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class Cable:
    """A network namespace joined to this one by a veth pair: 10.201.N.1 here, 10.201.N.2 there."""

    def __init__(self) -> None:
        n = os.getpid() % 200 + 20
        self.ns = f"arcroom{n}"
        self.here, self.there = f"arc{n}h", f"arc{n}n"
        self.host_ip, self.ns_ip = f"10.201.{n}.1", f"10.201.{n}.2"

    def lay(self) -> None:
        ip("netns", "add", self.ns)
        ip("link", "add", self.here, "type", "veth", "peer", "name", self.there)
        ip("link", "set", self.there, "netns", self.ns)
        ip("addr", "add", f"{self.host_ip}/24", "dev", self.here)
        ip("link", "set", self.here, "up")
        ip("netns", "exec", self.ns, "ip", "addr", "add", f"{self.ns_ip}/24", "dev", self.there)
        ip("netns", "exec", self.ns, "ip", "link", "set", self.there, "up")
        ip("netns", "exec", self.ns, "ip", "link", "set", "lo", "up")

    def cut(self) -> None:
        ip("link", "set", self.here, "down")

    def mend(self) -> None:
        ip("link", "set", self.here, "up")

    def remove(self) -> None:
        subprocess.run(["ip", "link", "del", self.here], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=10)


@pytest.fixture
def cable() -> Iterator[Cable]:
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces (as test_backup's restore does): CI and ./dev run as root here")
    c = Cable()
    c.remove()  # a run killed before its clean-up
    try:
        c.lay()
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        message = exc.stderr.decode() if isinstance(exc, subprocess.CalledProcessError) else str(exc)
        pytest.fail(f"this drill needs network namespaces (root, CAP_NET_ADMIN, iproute2): {message}")
    yield c
    c.remove()


async def health(c: httpx.AsyncClient, service: ServiceProcess) -> dict[str, Any]:
    try:
        answer: dict[str, Any] = (await c.get(f"{service.url}/api/health", timeout=1)).json()
    except httpx.HTTPError:
        return {"status": "unreachable"}
    return answer


async def test_a_leader_cut_off_goes_quiet_within_its_lease_and_the_other_takes_over(
    tmp_path: Path, demo_music: Path, cable: Cable
) -> None:
    pg_dir = Path(tempfile.mkdtemp(prefix="arcroom-pg-"))  # in /tmp: the postgres user must reach it
    server = Postgres(pg_dir, also_on=cable.host_ip)
    server.start()
    broker = Mosquitto(tmp_path, also_on=cable.host_ip, log_publishes=True)  # its log names who published
    broker.start()
    lamp_topic = unique("cut")
    rooms = tmp_path / "rooms.yaml"
    rooms.write_text(
        "rooms:\n  - id: one\n    name: Room one\n    audio: {output: dummy}\n    lights:\n"
        f"      - {{name: lamp, profile: shelly_gen1, topic: {lamp_topic}, role: lamp}}\n"
    )
    database = server.database(unique("cut").replace("-", "_")).removeprefix("postgresql://postgres@127.0.0.1:")
    common = {"ARCROOM_ROOMS_FILE": str(rooms), "ARCROOM_DEMO_MUSIC_DIR": str(demo_music), "ARCROOM_TOKENS": TOKENS}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = ServiceProcess(
        tmp_path / "a",
        {
            **common,
            "ARCROOM_INSTANCE": "a",
            "ARCROOM_DATABASE": f"postgresql://postgres@{cable.host_ip}:{database}",
            "ARCROOM_MQTT_URL": f"mqtt://{cable.host_ip}:{broker.port}",
        },
        prefix=("ip", "netns", "exec", cable.ns),
        host=cable.ns_ip,
    )
    b = ServiceProcess(
        tmp_path / "b",
        {
            **common,
            "ARCROOM_INSTANCE": "b",
            "ARCROOM_DATABASE": f"postgresql://postgres@127.0.0.1:{database}",
            "ARCROOM_MQTT_URL": broker.url,
        },
    )
    try:
        async with lamp(broker, lamp_topic) as light, httpx.AsyncClient(timeout=10, limits=CLIENT_LIMITS) as c:
            a.start()
            async with asyncio.timeout(20):
                while (await health(c, a)).get("status") == "standby":
                    await asyncio.sleep(0.05)
            b.start()
            r = await c.post(f"{a.url}/api/rooms/one/session", json={"preset": "psilocybin"}, headers=AUTH)
            assert r.status_code == 201, r.text
            assert (await c.post(f"{a.url}/api/rooms/one/session/dose", headers=AUTH)).status_code == 200
            await until(lambda: light.target.brightness_pct is not None, "the lamp commanded by the leader")

            cable.cut()
            cut_at = time.monotonic()
            async with asyncio.timeout(20):
                while (await health(c, b))["status"] == "standby":
                    await asyncio.sleep(0.02)
            took = time.monotonic() - cut_at
            print(f"the other instance ran the rooms {took:.2f} s after the leader was cut off")
            assert took <= TAKEOVER_S, f"takeover took {took:.2f} s"
            assert (await c.post(f"{b.url}/api/rooms/one/panic", headers=AUTH)).status_code == 200
            await until(lambda: light.state().brightness_pct == 100, "the lamp at 100 % by the new leader")
            await asyncio.sleep(1.0)
            mark = len(light.received)
            assert topics.state("one") in broker.published_by("arcroom-a")  # the log names it, while it led
            heard = broker.log.stat().st_size

            cable.mend()  # the old leader can reach the broker and the database again
            async with asyncio.timeout(20):
                while ((seen := await health(c, a)).get("status"), seen.get("leader")) != ("standby", "b"):
                    await asyncio.sleep(0.1)
            await asyncio.sleep(2.0)
            assert brightness_commands(light, mark) == [], "the old leader commanded the lamp once back"
            assert broker.published_by("arcroom-a", heard) == [], "the old leader published once back"
            assert light.state().brightness_pct == 100
        # Cut off, the old leader stopped its rooms before the other took the lead (their logs say when).
        stopped = logged(a, "instance a stops commanding")
        took_over = logged(b, "instance b leads now")
        print(f"the old leader stopped {took_over - stopped:.2f} s before the other took the lead")
        assert stopped < took_over
    finally:
        a.stop()
        b.stop()
        broker.stop()
        server.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)
