"""What rooms cost the box when nothing is asked of the service: CPU (share of one core) and RSS.

Real Mosquitto; the service under uvicorn in its own process with 10 rooms of 5 lights (every
device family), an LSD session dosed in each, so every room plays music (real libVLC on its dummy
output: files are decoded, nothing is heard) and steps its lights' scene fades; the 50 lights
are simulated devices in another process (`arcroom simulate-lights`) that answer every command
with a report, as real ones do. After a warm-up, the service's CPU time (all its threads, from
/proc) is read over the measuring window; no API client is connected.

    .venv/bin/python -m bench.room_cost [--seconds 60] [--warmup 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.service import running_service
from bench.soak import rss_mb

ROOMS = 10
LIGHTS = [
    ("ceiling", "zigbee2mqtt", "ceiling"),
    ("lamp", "tasmota", "lamp"),
    ("strip", "wled", "accent"),
    ("dimmer", "shelly_gen2", "lamp"),
    ("esp", "esphome", "accent"),
]


def rooms_yaml() -> str:
    lines = ["rooms:"]
    for r in range(ROOMS):
        room = f"r{r:02d}"
        lines += [f"  - id: {room}", f"    name: Room {r}", "    audio: {output: dummy}", "    lights:"]
        for name, profile, role in LIGHTS:
            topic = f"{room}-{name}/light/lamp" if profile == "esphome" else f"{room}_{name}"
            lines.append(f"      - {{name: {name}, profile: {profile}, topic: '{topic}', role: {role}}}")
    return "\n".join(lines) + "\n"


def cpu_s(pid: int) -> float:
    """User + system CPU time of the process, all threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=20.0)
    args = parser.parse_args()
    text = rooms_yaml()
    with tempfile.TemporaryDirectory() as tmp, running_service(text) as service:
        rooms = Path(tmp) / "rooms.yaml"
        rooms.write_text(text)
        devices = subprocess.Popen(
            [sys.executable, "-m", "app", "simulate-lights", str(rooms), "--broker", service.broker.url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(args.warmup)
            cpu0, t0 = cpu_s(service.pid), time.monotonic()
            time.sleep(args.seconds)
            used, took = cpu_s(service.pid) - cpu0, time.monotonic() - t0
            print(
                f"Arcroom at rest: {ROOMS} rooms x {len(LIGHTS)} lights, a session with music in each, "
                f"{os.cpu_count()} CPUs, {took:.0f} s measured after {args.warmup:.0f} s"
            )
            print(f"  CPU: {100 * used / took:.1f} % of one core")
            print(f"  RSS: {rss_mb(service.pid):.0f} MB")
        finally:
            devices.terminate()
            devices.wait(10)


if __name__ == "__main__":
    main()
