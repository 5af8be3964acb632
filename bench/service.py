"""The service for a benchmark: its own process on a private Mosquitto, with a session in every room."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import Mosquitto, Postgres, free_port


@dataclass(frozen=True)
class Running:
    base: str  # http://127.0.0.1:<port>
    pid: int
    broker: Mosquitto


@contextmanager
def running_service(rooms_yaml: str, *, sessions: bool = True, postgres: bool = False) -> Iterator[Running]:
    """`arcroom serve` (real libVLC on its dummy output) until the block ends; with `sessions`, an
    LSD session dosed in every room (so every room plays music); with `postgres`, its record on a
    private PostgreSQL server (fsync on) instead of a SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = Mosquitto(work)
        broker.start()
        server = None
        database = str(work / "bench.db")
        if postgres:
            server = Postgres(Path(tempfile.mkdtemp(prefix="arcroom-pg-")), fsync=True)
            server.start()
            database = server.database("bench")
        rooms = work / "rooms.yaml"
        rooms.write_text(rooms_yaml)
        port = free_port()
        env = {
            **os.environ,
            "ARCROOM_MQTT_URL": broker.url,
            "ARCROOM_ROOMS_FILE": str(rooms),
            "ARCROOM_DATABASE": database,
            "ARCROOM_AUDIO_OUTPUT": "dummy",
        }
        service = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port), "--log-level", "warning"], env=env
        )
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=10) as http:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if http.get("/api/health").json()["mqtt"]["connected"]:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise SystemExit("the service did not come up")
                    time.sleep(0.1)
                room_ids = [room["id"] for room in http.get("/api/rooms").json()]
                for room in room_ids if sessions else ():
                    http.post(f"/api/rooms/{room}/session", json={"preset": "lsd"})
                    http.post(f"/api/rooms/{room}/session/dose", json={})
            yield Running(base, service.pid, broker)
        finally:
            service.terminate()
            service.wait(10)
            broker.stop()
            if server is not None:
                server.stop()
