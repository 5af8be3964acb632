"""Screenshots of the tablet dashboard for the README, and how bright the night ones are.

    .venv/bin/python docs/screenshots.py            # writes docs/*.png and prints each one's luma
    .venv/bin/python docs/screenshots.py --serve    # the same demo, left running to look at

Starts the service itself: a temporary SQLite file, the embedded MQTT broker on a free port,
two rooms (room 1 with three simulated Zigbee lights) and a psilocybin session two and a half
hours in, with a check due and a note written. The clock is a manual one that follows real
time, so the pictures show today's times. No sound is played (a fake player).

Luma is measured as tests/web/luminance.py does (BT.601 on the 8-bit values, 0-255: the mean and
the 99th percentile of all pixels); the highest night figures are the bounds the browser tests hold
every night state to (NIGHT_MEAN_MAX, NIGHT_P99_MAX there).

Uses Debian's Chromium (/usr/bin/chromium, or $ARCROOM_CHROMIUM) through Playwright; it never
downloads a browser.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.api.app import create_app  # noqa: E402
from app.audio import FakePlayer  # noqa: E402
from app.domain.clock import ManualClock  # noqa: E402
from app.settings import Settings  # noqa: E402
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (the browser as the tests launch it)
from tests.web.luminance import NIGHT_BOUNDS, Luma, luma_of_png  # noqa: E402

DOCS = ROOT / "docs"

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

SIZES = {"1280x800": (1280, 800), "800x1280": (800, 1280), "390x844": (390, 844)}
# name -> (viewport, display mode, what is on screen)
SHOTS: dict[str, tuple[tuple[int, int], str, str]] = {
    **{f"dashboard-{size}-{mode}.png": (wh, mode, "room") for size, wh in SIZES.items() for mode in ("night", "day")},
    "dashboard-1280x800-dim.png": (SIZES["1280x800"], "dim", "room"),
    **{f"panic-{size}-night.png": (wh, "night", "panic") for size, wh in SIZES.items()},
    "overview-1280x800-night.png": (SIZES["1280x800"], "night", "overview"),
}

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
    settings = Settings(
        _env_file=None,
        database=workdir / "arcroom.db",
        rooms_file=rooms,  # type: ignore[call-arg]
        embedded_broker_port=free_port(),
        mqtt_client_id="arcroom-screenshots",
    )
    start = time.time() - (2 * 60 + 35) * MIN
    clock = ManualClock(start)
    # Fake decks keep time with the demo's clock, so positions and track ends follow it.
    app = create_app(settings, clock=clock, player_factory=lambda room, s: FakePlayer(room.audio.output, clock=clock))
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1)
    )
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

            readings = {
                "vitals": {"systolic_mmhg": 124, "diastolic_mmhg": 80, "heart_rate_bpm": 78, "spo2_pct": 98},
                "fluids": {"fluid": "water", "fluid_ml": 150},
                "check_in": {"note": "Calm; some tearfulness, says it is welcome."},
            }

            async def ack_due() -> None:
                state = (await c.get("/api/rooms/room1/state")).json()["session"]
                for cue in state["due_cues"]:
                    await send(f"/cues/{cue['id']}/ack", {"readings": readings[cue["kind"]]})

            await send("", {"preset": "psilocybin", "client_label": "P-017"})
            for name in ("A. Rivera", "J. Okafor"):
                await send("/facilitators", {"name": name})
            await ack_due()  # the baseline
            await clock.advance(20 * MIN)
            await send("/note", {"text": "Client settled; intentions reviewed, eyeshades on."})
            await clock.advance(5 * MIN)
            await send("/dose", {"amount": 25})
            await app.state.runtime.rooms["room1"].music.decks.set_volume(45)
            await ack_due()
            await clock.advance(62 * MIN)
            await ack_due()
            await clock.advance(30 * MIN)
            await ack_due()
            await send("/note", {"text": "Client calm, some tearfulness; asked for a blanket."})
            await clock.advance_to(time.time() - 2 * MIN)  # a check is due and not yet acknowledged
        follower = asyncio.create_task(follow_real_time(clock))
        yield base
    finally:
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        server.should_exit = True
        await task


async def take_screenshots(base: str, out: Path) -> list[tuple[Path, str, str, Luma]]:
    from playwright.async_api import async_playwright

    written: list[tuple[Path, str, str, Luma]] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            decoder = await browser.new_page()
            for name, ((width, height), mode, scene) in SHOTS.items():
                context = await browser.new_context(
                    viewport={"width": width, "height": height}, service_workers="block"
                )
                await context.add_init_script(f"localStorage.setItem('arcroom.theme', '{mode}');")
                page = await context.new_page()
                if scene == "overview":
                    await page.goto(f"{base}/overview")
                    await page.locator(".room-card").nth(1).wait_for(timeout=10_000)
                    await page.wait_for_timeout(300)
                else:
                    await page.goto(f"{base}/?room=room1")
                    await page.locator("#phase-name", has_text="peak").wait_for(timeout=10_000)
                    await page.locator("#conn-chip", has_text="Live").wait_for(timeout=10_000)
                    await page.locator("#lights-summary", has_text="3 online").wait_for(timeout=10_000)
                    await page.wait_for_timeout(800)  # the timeline and the light reports settle
                if scene == "panic":
                    await page.locator("#panic").click()
                    await page.locator("#panic-lights", has_text="3 of 3 confirmed").wait_for(timeout=10_000)
                path = out / name
                png = await page.screenshot(path=str(path))
                written.append((path, f"{width}x{height}", mode, await luma_of_png(decoder, png)))
                if scene == "panic":
                    await page.get_by_role("button", name="Clear and restore the room").click()
                    await page.locator("#panic-active").wait_for(state="hidden", timeout=10_000)
                await context.close()
        finally:
            await browser.close()
    return written


def report(shots: list[tuple[Path, str, str, Luma]]) -> None:
    for path, _, mode, luma in shots:
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"{shown}  {mode:5}  luma {luma}")
    for size, (mean_max, p99_max) in NIGHT_BOUNDS.items():
        night = [luma for _, at, mode, luma in shots if mode == "night" and at == size]
        mean, p99 = round(max(x.mean for x in night), 1), max(x.p99 for x in night)
        note = (
            ""
            if mean <= mean_max and p99 <= p99_max
            else f"  (above the bounds the browser tests use, {mean_max} and {p99_max}: update tests/web/luminance.py)"
        )
        print(f"night screenshots at {size}: highest mean luma {mean:.1f}, highest 99th percentile {p99}{note}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="keep the demo running instead of taking pictures")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DOCS)
    args = parser.parse_args()
    logging.getLogger("app").setLevel(logging.ERROR)  # the demo's panic is logged as a warning
    with tempfile.TemporaryDirectory(prefix="arcroom-shots-") as tmp:
        async with demo_service(Path(tmp), args.port) as base:
            if args.serve:
                print(f"demo running on {base}/?room=room1  (Ctrl-C to stop)", flush=True)
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.Event().wait()
                return
            report(await take_screenshots(base, args.out))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
