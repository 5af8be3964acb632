"""Takeover: how long from the leader's death (kill -9) or freeze (SIGSTOP) until the standby runs the rooms.

Real parts, as the drills start them: a private PostgreSQL (fsync on) and Mosquitto, and two
`arcroom serve` processes (instances a and b) with the demo rooms and a running session. Each round
kills (or freezes) whichever instance leads, times until the other's health says it runs the rooms
(polled every 10 ms), then starts the dead one again, which stands by for the next round.

    .venv/bin/python -m bench.takeover [--rounds 10] [--mode kill|freeze]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tests.drills.service import ServiceProcess
from tests.support import Mosquitto, Postgres


def status(service: ServiceProcess) -> str:
    try:
        answer: str = httpx.get(f"{service.url}/api/health", timeout=1).json()["status"]
    except (httpx.HTTPError, ValueError, KeyError):
        return "down"
    return answer


def wait_to_run(service: ServiceProcess, within_s: float = 30) -> None:
    deadline = time.monotonic() + within_s
    while status(service) in ("standby", "down"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{service.url} did not take over within {within_s} s")
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--mode", choices=("kill", "freeze"), default="kill")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arcroom-takeover-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="arcroom-takeover-pg-"))
    postgres = Postgres(pg_dir, fsync=True)
    postgres.start()
    broker = Mosquitto(work)
    broker.start()
    url = postgres.database("takeover")
    services = []
    for name in ("a", "b"):
        home = work / name
        home.mkdir()
        services.append(
            ServiceProcess(
                home,
                {
                    "ARCROOM_INSTANCE": name,
                    "ARCROOM_DATABASE": url,
                    "ARCROOM_MQTT_URL": broker.url,
                },
            )
        )
    took: list[float] = []
    try:
        leader, standby = services
        leader.start(timeout_s=300)  # the first start makes the demo music
        wait_to_run(leader)
        standby.start()
        r = httpx.post(f"{leader.url}/api/rooms/demo/session", json={"preset": "psilocybin"}, timeout=10)
        assert r.status_code == 201, r.text
        for _ in range(args.rounds):
            time.sleep(1.0)
            if args.mode == "kill":
                leader.kill9()
            else:
                leader.freeze()
            started = time.monotonic()
            wait_to_run(standby)
            took.append(time.monotonic() - started)
            if args.mode == "freeze":
                leader.kill9()  # frozen: SIGKILL ends it where it stands
            leader.start()  # back: it stands by
            leader, standby = standby, leader
    finally:
        for service in services:
            service.stop()
        broker.stop()
        postgres.stop()
    print(
        f"takeover after {args.mode} ({len(took)} rounds): p50 {statistics.median(took):.2f} s, "
        f"min {min(took):.2f} s, max {max(took):.2f} s"
    )


if __name__ == "__main__":
    main()
