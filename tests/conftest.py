"""Shared fixtures: a private Mosquitto, and the service under a real uvicorn on a manual clock."""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from app.api.app import create_app
from app.audio import FakePlayer
from app.catalog import Catalog
from app.domain.clock import ManualClock
from app.music.demo import generate_demo_library
from app.runtime import PlayerFactory
from app.settings import Settings
from tests.support import CLIENT_LIMITS, Mosquitto, Postgres, free_port

T0 = 1_800_000_000.0  # a fixed start time for manual clocks

# What each folder's tests need, as markers (registered in pyproject.toml): `./dev test -m "not slow"`
# is the inner loop; browser, ha, audio and drill tests are all slow.
_FOLDER_MARKERS = {"web": "browser", "ha": "ha", "audio": "audio", "drills": "drill"}
# Modules outside those folders that drive real libVLC and PulseAudio, or take long for another reason.
_AUDIO_MODULES = {"test_gapless_decks.py", "test_deck_levels.py", "test_volume.py", "test_loudness.py"}
_SLOW_MODULES = {"test_schemathesis.py", "test_packaging.py", "test_retention.py", "test_service_kill.py"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Timing measurements run only when asked for by name (-m timing: bench/gapless_joins.py).
    if "timing" not in str(config.getoption("markexpr") or ""):
        timing = [item for item in items if item.get_closest_marker("timing")]
        if timing:
            config.hook.pytest_deselected(items=timing)
            items[:] = [item for item in items if not item.get_closest_marker("timing")]
    tests = Path(__file__).parent
    for item in items:
        path = Path(item.path).relative_to(tests)
        marks = {_FOLDER_MARKERS[path.parts[0]]} if path.parts[0] in _FOLDER_MARKERS else set()
        if path.parts[0] == "music" and path.name in _AUDIO_MODULES:
            marks.add("audio")
        if marks or path.name in _SLOW_MODULES:
            marks.add("slow")
        for mark in sorted(marks):
            item.add_marker(mark)
        if "ha" in marks:
            # One Home Assistant per worker that runs these: all on one worker, it starts once.
            item.add_marker(pytest.mark.xdist_group("home-assistant"))
        elif "audio" in marks:
            # Real-time audio, one test at a time (./dev test runs these after the rest, alone).
            item.add_marker(pytest.mark.xdist_group("audio"))


ROOMS_YAML = """\
rooms:
  - id: one
    name: Room one
    audio: {output: dummy}
  - id: two
    name: Room two
    audio: {output: dummy}
"""


@pytest.fixture(autouse=True)
def root_logging_kept() -> Iterator[None]:
    """A test that runs `arcroom serve` in-process configures the root logger onto the stderr pytest
    captured for it, which is closed after: later tests' logs then failed to write ("Logging error").
    Each test leaves the root logger as it found it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A private PostgreSQL server for this worker (in /tmp itself: its user must reach the folder)."""
    workdir = Path(tempfile.mkdtemp(prefix="arcroom-pg-"))
    server = Postgres(workdir)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def rooms_file(tmp_path: Path) -> Path:
    path = tmp_path / "rooms.yaml"
    path.write_text(ROOMS_YAML)
    return path


@pytest.fixture(scope="session")
def demo_music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated demo library, made once for the whole test run."""
    directory = tmp_path_factory.mktemp("demo-music")
    generate_demo_library(directory)
    return directory


@pytest.fixture
def settings(tmp_path: Path, rooms_file: Path, mosquitto: Mosquitto, demo_music: Path) -> Settings:
    return Settings(
        _env_file=None,
        database=tmp_path / "arcroom.db",
        rooms_file=rooms_file,  # type: ignore[call-arg]
        mqtt_url=mosquitto.url,
        mqtt_client_id=f"arcroom-test-{free_port()}",
        mqtt_claim_wait_ms=0,  # no other instance to wait for (tests/mqtt/test_instances.py waits)
        demo_music_dir=demo_music,
        # The tests' times are UTC whatever zone the machine running them is in.
        timezone="UTC",
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


class Service:
    """The app served by uvicorn on a free port, with an HTTP client pointed at it."""

    def __init__(self, app: Any, server: uvicorn.Server | None, client: httpx.AsyncClient, clock: ManualClock) -> None:
        self.app = app
        self.server = server
        self.client = client
        self.clock = clock

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime


@functools.lru_cache(maxsize=32)
def _catalog(
    presets: Path, rooms_file: Path, rooms_text: str, profiles: Path, scenes: Path, playlists: Path
) -> Catalog:
    return Catalog.load(presets, rooms_file, profiles, scenes, playlists)


def catalog_for(settings: Settings) -> Catalog:
    """The data files, parsed once per test run for each distinct rooms file (parsing takes ~0.5 s)."""
    text = settings.rooms_file.read_text() if settings.rooms_file.exists() else ""
    return _catalog(
        settings.presets_dir,
        settings.rooms_file,
        text,
        settings.device_profiles_dir,
        settings.scenes_file,
        settings.playlists_dir,
    )


@asynccontextmanager
async def serve(
    settings: Settings, clock: ManualClock, player_factory: PlayerFactory | None = None, *, port: int | None = None
) -> AsyncIterator[Service]:
    """The app under uvicorn; give `port` to start it again on the same one (a restart)."""
    # Fake decks keep time with the service's manual clock, as libVLC keeps time with the real one.
    app = create_app(
        settings,
        clock=clock,
        catalog=catalog_for(settings),
        player_factory=player_factory or (lambda room, s: FakePlayer(room.audio.output, clock=clock)),
    )
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn exited during start-up")
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10, limits=CLIENT_LIMITS) as client:
            yield Service(app, server, client, clock)
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def serve_in_process(
    settings: Settings, clock: ManualClock, player_factory: PlayerFactory | None = None
) -> AsyncIterator[Service]:
    """The app with its lifespan run in this process, called through httpx's ASGI transport: for
    requests that need no real server (no event stream, no browser, no restart on a port)."""
    app = create_app(
        settings,
        clock=clock,
        catalog=catalog_for(settings),
        player_factory=player_factory or (lambda room, s: FakePlayer(room.audio.output, clock=clock)),
    )
    async with app.router.lifespan_context(app):
        async with asyncio.timeout(10):  # as a real client would find it: connected to the broker
            await app.state.runtime.link.wait_connected()
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000", timeout=10) as client:
            yield Service(app, None, client, clock)


@pytest.fixture
async def service(settings: Settings, clock: ManualClock) -> AsyncIterator[Service]:
    """The service under a real uvicorn (tests/api/ overrides it with the in-process one)."""
    async with serve(settings, clock) as svc:
        yield svc


@pytest.fixture
async def live_service(settings: Settings, clock: ManualClock) -> AsyncIterator[Service]:
    """Always under a real uvicorn: event streams need a real server."""
    async with serve(settings, clock) as svc:
        async with asyncio.timeout(10):  # as a client would find it: connected to the broker
            await svc.runtime.link.wait_connected()
        yield svc
