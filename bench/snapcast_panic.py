"""Panic to silence at a Snapcast player: how long from the panic to the player muted and silent.

Real parts, as the tests start them: Mosquitto, snapserver (1 s buffer, its default), snapclient
writing what it plays to a file in real time, and the service in this process with libVLC decks
feeding the room's stream. Each round: the music sounds at the player, a panic is sent over HTTP,
and two clocks run from the moment it was sent:

- muted: the player reads back muted over snapserver's control API (asked on a connection of its
  own, as another control app would, every 5 ms);
- silent: the last 20 ms the player wrote are all zeros (read every 5 ms).

Then the panic is cleared (restore) and the music must come back before the next round.

    .venv/bin/python -m bench.snapcast_panic [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from app.api.app import create_app
from app.catalog import Catalog
from app.domain.clock import SystemClock
from app.runtime import vlc_player_for
from app.settings import Settings
from tests.support import Mosquitto, Snapclient, Snapserver

HEARD = 300.0
PLAYER = "room1-headphones"


async def until(what: object, within_s: float = 15.0) -> None:
    assert callable(what)
    async with asyncio.timeout(within_s):
        while not what():
            await asyncio.sleep(0.005)


async def run(rounds: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="arcroom-snapbench-"))
    broker, server = Mosquitto(workdir), Snapserver(workdir, streams=("room1",))
    broker.start()
    server.start()
    player = Snapclient(server, PLAYER, workdir)
    player.start()
    rooms = workdir / "rooms.yaml"
    rooms.write_text(
        "rooms:\n  - id: one\n    name: Room one\n    audio:\n      output: snapcast\n"
        f"      snapcast: {{control_port: {server.control_port}, stream: room1,"
        f' source: "{server.sources["room1"]}", clients: [{PLAYER}]}}\n'
    )
    settings = Settings(
        _env_file=None,
        database=workdir / "arcroom.db",
        rooms_file=rooms,  # type: ignore[call-arg]
        mqtt_url=broker.url,
        mqtt_claim_wait_ms=0,
    )
    catalog = Catalog.load(
        settings.presets_dir,
        settings.rooms_file,
        settings.device_profiles_dir,
        settings.scenes_file,
        settings.playlists_dir,
    )
    app = create_app(settings, clock=SystemClock(), catalog=catalog, player_factory=vlc_player_for)
    muted_ms: list[float] = []
    silent_ms: list[float] = []
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000", timeout=10) as c:
                r = await c.post("/api/rooms/one/session", json={"preset": "psilocybin"})
                assert r.status_code == 201, r.text
                for _ in range(rounds):
                    await until(lambda: player.level(0.3) > HEARD)
                    await asyncio.sleep(1.0)
                    sent = time.monotonic()
                    panic = asyncio.create_task(c.post("/api/rooms/one/panic"))
                    muted = silent = None
                    while muted is None or silent is None:
                        now = time.monotonic()
                        if muted is None and server.client(PLAYER)["config"]["volume"]["muted"]:  # type: ignore[index]
                            muted = now - sent
                        if silent is None and player.level(0.02) == 0.0:
                            silent = now - sent
                        if now - sent > 10:
                            raise TimeoutError("the player did not go quiet within 10 s")
                        await asyncio.sleep(0.005)
                    assert (await panic).status_code == 200
                    muted_ms.append(muted * 1000)
                    silent_ms.append(silent * 1000)
                    r = await c.post("/api/rooms/one/panic/clear", json={"mode": "restore"})
                    assert r.status_code == 200, r.text
    finally:
        player.kill()
        server.stop()
        broker.stop()
    for name, values in (("muted (read back)", muted_ms), ("silent at the player", silent_ms)):
        q = statistics.quantiles(values, n=20, method="inclusive")
        print(
            f"{name:22s} n={len(values)}  p50 {statistics.median(values):6.1f} ms  "
            f"p95 {q[18]:6.1f} ms  max {max(values):6.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    asyncio.run(run(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
