"""Screenshots of the tablet dashboard for the README.

    .venv/bin/python docs/screenshots.py            # writes docs/dashboard-*.png, docs/overview-*.png
    .venv/bin/python docs/screenshots.py --serve    # the same demo, left running to look at

Starts the service itself: a temporary SQLite file, the embedded MQTT broker on a free port,
two rooms (room 1 with three simulated Zigbee lights) and a psilocybin session two and a half
hours in, with a check due and a note written. The clock is a manual one that follows real
time, so the pictures show today's times. No sound is played (a fake player).

Uses Debian's Chromium (/usr/bin/chromium, or $ARCROOM_CHROMIUM) through Playwright; it never
downloads a browser.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.api import create_app  # noqa: E402
from app.audio import FakePlayer  # noqa: E402
from app.domain.clock import ManualClock  # noqa: E402
from app.settings import Settings  # noqa: E402

DOCS = ROOT / "docs"
CHROMIUM = os.environ.get("ARCROOM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

ROOMS_YAML = """\
rooms:
  - id: room1
    name: Room 1
    lights:
      - {name: ceiling, profile: zigbee2mqtt, topic: demo_room1_ceiling, role: ceiling, simulated: true}
      - {name: lamp, profile: zigbee2mqtt, topic: demo_room1_lamp, role: lamp, simulated: true}
      - {name: accent, profile: zigbee2mqtt, topic: demo_room1_accent, role: accent, simulated: true}
    audio: {output: dummy, volume_ceiling_pct: 70}
  - id: room2
    name: Room 2
    audio: {output: dummy}
"""

# name -> (viewport, theme)
SHOTS = {
    "dashboard-1280x800-night.png": ((1280, 800), "night"),
    "dashboard-1280x800-day.png": ((1280, 800), "day"),
    "dashboard-800x1280-night.png": ((800, 1280), "night"),
    "dashboard-800x1280-day.png": ((800, 1280), "day"),
}
OVERVIEW_SHOT = "overview-1280x800-night.png"

MIN = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def follow_real_time(clock: ManualClock) -> None:
    """Move the manual clock along with the wall clock, so the demo runs live."""
    while True:
        await asyncio.sleep(1)
        behind = time.time() - clock.now()
        if behind > 0:
            await clock.advance(behind)


@contextlib.asynccontextmanager
async def demo_service(workdir: Path, port: int = 0) -> AsyncIterator[str]:
    rooms = workdir / "rooms.yaml"
    rooms.write_text(ROOMS_YAML)
    settings = Settings(_env_file=None, database=workdir / "arcroom.db", rooms_file=rooms,  # type: ignore[call-arg]
                        embedded_broker_port=free_port(), mqtt_client_id="arcroom-screenshots")
    start = time.time() - (2 * 60 + 35) * MIN
    clock = ManualClock(start)
    def player(room, s):  # type: ignore[no-untyped-def]
        try:  # positions and track ends follow the demo's clock, where the fake player can
            return FakePlayer(room.audio.output, clock=clock)  # type: ignore[call-arg]
        except TypeError:
            return FakePlayer(room.audio.output)

    app = create_app(settings, clock=clock, player_factory=player)
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    follower: asyncio.Task[None] | None = None
    try:
        import httpx

        async with httpx.AsyncClient(base_url=base, timeout=10) as c:
            async def send(path: str, body: dict | None = None) -> dict:  # type: ignore[type-arg]
                r = await c.post(f"/api/rooms/room1/session{path}", json=body)
                r.raise_for_status()
                return r.json()  # type: ignore[no-any-return]

            await send("", {"preset": "psilocybin", "client_label": "P-017"})
            await clock.advance(20 * MIN)
            await send("/note", {"text": "Client settled; intentions reviewed, eyeshades on."})
            await clock.advance(5 * MIN)
            await send("/dose", {"amount": "25 mg"})
            audio = app.state.runtime.rooms["room1"].music.decks
            if isinstance(audio, FakePlayer):  # no music engine: play something by hand
                await audio.play("/music/peak/01-Stars-of-the-Lid-Requiem-for-Dying-Mothers.ogg")
            await audio.set_volume(45)
            await clock.advance(62 * MIN)
            await send("/cues/vitals@60/ack")
            await clock.advance(30 * MIN)
            await send("/cues/check_in_peak@75/ack")
            await send("/note", {"text": "BP 128/82, pulse 84. Client calm, some tearfulness."})
            await clock.advance_to(time.time() - 2 * MIN)  # vitals@120 is due and not yet acknowledged
        follower = asyncio.create_task(follow_real_time(clock))
        yield base
    finally:
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        server.should_exit = True
        await task


async def take_screenshots(base: str, out: Path) -> list[Path]:
    from playwright.async_api import async_playwright

    written: list[Path] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name, ((width, height), mode) in SHOTS.items():
                context = await browser.new_context(viewport={"width": width, "height": height},
                                                    service_workers="block")
                await context.add_init_script(f"localStorage.setItem('arcroom.theme', '{mode}');")
                page = await context.new_page()
                await page.goto(f"{base}/?room=room1")
                await page.locator("#phase-name", has_text="peak").wait_for(timeout=10_000)
                await page.locator("#conn-chip", has_text="Live").wait_for(timeout=10_000)
                await page.locator("#light-list li").first.wait_for(timeout=10_000)
                await page.wait_for_timeout(800)  # the timeline and the light reports settle
                path = out / name
                await page.screenshot(path=str(path))
                written.append(path)
                await context.close()
            context = await browser.new_context(viewport={"width": 1280, "height": 800}, service_workers="block")
            page = await context.new_page()
            await page.goto(f"{base}/overview")
            await page.locator(".room-card").nth(1).wait_for(timeout=10_000)
            await page.wait_for_timeout(300)
            path = out / OVERVIEW_SHOT
            await page.screenshot(path=str(path))
            written.append(path)
            await context.close()
        finally:
            await browser.close()
    return written


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="keep the demo running instead of taking pictures")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DOCS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arcroom-shots-") as tmp:
        async with demo_service(Path(tmp), args.port) as base:
            if args.serve:
                print(f"demo running on {base}/?room=room1  (Ctrl-C to stop)", flush=True)
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.Event().wait()
                return
            for path in await take_screenshots(base, args.out):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
