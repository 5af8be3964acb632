"""A stand-in for the runtime: session events in, plans out, the room's events recorded and acted on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from app.audio import FakePlayer
from app.catalog import load_playlists, load_presets
from app.domain.clock import ManualClock
from app.domain.events import Event, EventType
from app.domain.music_plan import MusicPlan, build_plan
from app.domain.playlists import Playlist
from app.domain.presets import Preset
from app.domain.session import SessionInfo, SessionState, replay
from app.music import DeckPair

ROOT = Path(__file__).resolve().parents[2]
PRESETS = load_presets(ROOT / "presets")
PLAYLISTS = load_playlists(ROOT / "playlists")
# A folder that exists (the decks check that a library is there); FakePlayers never open its files.
LIBRARY = Path(__file__).resolve().parent
T0 = 1_800_000_000.0


def one_segment(
    preset: Preset,
    tracks: Iterable[Mapping[str, Any]],
    *,
    crossfade_s: float = 4,
    library: str = "demo",
    **segment: Any,
) -> Playlist:
    """A playlist for `preset` whose every segment plays these tracks (path, title, duration_s, join, ...)."""
    listed = [{"title": t["path"], "artist": "test", **t} for t in tracks]
    body = {"tracks": listed, **segment}
    return Playlist.model_validate(
        {
            "id": "t",
            "title": "T",
            "curator": "C",
            "source": "tests",
            "presets": [preset.id],
            "library": library,
            "crossfade_s": crossfade_s,
            "segments": {p.music: body for p in preset.phases},
        }
    )


def durations_for(
    playlist: Playlist,
    library: Path = LIBRARY,
    *,
    missing: Iterable[str] = (),
    actual: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """What the fake decks can play: every track of the playlist at its declared length."""
    out = {}
    for seg in playlist.segments.values():
        for t in seg.tracks:
            if t.path not in missing:
                out[str(library / t.path)] = (actual or {}).get(t.path, t.duration_s)
    return out


def sounding(player: FakePlayer) -> list[tuple[float, float]]:
    """The intervals in which a fake deck was playing, from its history."""
    out: list[tuple[float, float]] = []
    since: float | None = None
    for at, what, _, _ in player.history:
        if what in ("play", "resume") and since is None:
            since = at
        elif what in ("stop", "ended", "pause", "error") and since is not None:
            out.append((since, at))
            since = None
        elif what == "play" and since is not None:  # replaced without a stop
            out.append((since, at))
            since = at
    if since is not None:
        out.append((since, player._clock.now()))
    return out


def gaps(intervals: Iterable[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    """The parts of [start, end) that no interval covers."""
    out = []
    t = start
    for a, b in sorted(intervals):
        if a > t + 1e-6:
            out.append((t, min(a, end)))
        t = max(t, b)
        if t >= end:
            break
    if t < end - 1e-6:
        out.append((t, end))
    return [g for g in out if g[1] > g[0] + 1e-6]


class Lead:
    """What the runtime does for a room: keeps the session's events, re-plans on every change."""

    def __init__(
        self,
        clock: ManualClock,
        preset: Preset,
        playlist: Playlist,
        *,
        durations: Mapping[str, float] | None = None,
        ceiling_pct: int = 70,
        volume_pct: int = 60,
        library: Path = LIBRARY,
    ) -> None:
        self.clock = clock
        self.preset = preset
        self.playlist = playlist
        self.info = SessionInfo(id="s1", room="one", preset=preset)
        self.events = [Event(seq=0, at=clock.now(), type=EventType.STARTED)]
        self.pauses: list[tuple[float, float | None]] = []
        self.skips: list[float] = []
        self.gains: dict[str, float] = {}
        self.music: list[tuple[float, str, dict[str, Any]]] = []
        self.library = library
        self.durations = dict(durations if durations is not None else durations_for(playlist, library))
        self.decks = (
            FakePlayer("a", clock=clock, durations=self.durations),
            FakePlayer("b", clock=clock, durations=self.durations),
        )
        self.ceiling_pct, self.volume_pct = ceiling_pct, volume_pct
        self.room = self.new_room(self.decks)
        self.auto_replan = True
        self._tasks: set[asyncio.Task[None]] = set()

    def new_room(self, decks: tuple[FakePlayer, FakePlayer]) -> DeckPair:
        return DeckPair(
            "one",
            decks,
            {"demo": self.library, "clinic": self.library},
            self.clock,
            ceiling_pct=self.ceiling_pct,
            volume_pct=self.volume_pct,
            on_event=self.on_event,
        )

    def state(self) -> SessionState:
        return replay(self.info, self.events, self.clock.now())

    def plan(self) -> MusicPlan:
        return build_plan(
            self.playlist,
            self.state().phases,
            self.clock.now(),
            pauses=self.pauses,
            skips=self.skips,
            gains=self.gains,
        )

    async def replan(self) -> MusicPlan:
        plan = self.plan()
        await self.room.follow(plan, self.playlist)
        return plan

    def on_event(self, kind: str, detail: dict[str, Any]) -> None:
        self.music.append((self.clock.now(), kind, detail))
        if kind == "track_failed" and self.auto_replan:
            self.skips.append(self.clock.now())
            task = asyncio.ensure_future(self.replan())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def kinds(self, kind: str) -> list[tuple[float, dict[str, Any]]]:
        return [(at, d) for at, k, d in self.music if k == kind]

    async def add(self, type_: EventType, **data: Any) -> MusicPlan:
        self.events.append(Event(seq=len(self.events), at=self.clock.now(), type=type_, data=data))
        return await self.replan()

    async def pause(self, fade_s: float = 0.0) -> MusicPlan:
        await self.room.pause(fade_s)
        self.pauses.append((self.clock.now(), None))
        return await self.replan()

    async def resume(self) -> MusicPlan:
        await self.room.resume()
        a, _ = self.pauses[-1]
        self.pauses[-1] = (a, self.clock.now())
        return await self.replan()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def start() -> AsyncIterator[Callable[[DeckPair], Awaitable[None]]]:
    """Start a room and its run loop; cancel and close everything afterwards."""
    rooms: list[DeckPair] = []
    tasks: list[asyncio.Task[None]] = []

    async def _start(room: DeckPair) -> None:
        await room.start()
        rooms.append(room)
        tasks.append(asyncio.create_task(room.run()))

    yield _start
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for room in rooms:
        await room.close()
