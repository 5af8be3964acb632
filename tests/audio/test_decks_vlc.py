"""The two decks on real libVLC, each deck writing what it plays to its own WAV (--aout=afile).

afile does not apply the volume (see audio.md), so these tests measure presence and position;
levels and ramps are measured through a PulseAudio null sink in test_pulse_volume.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.audio import VlcPlayer, deck_outputs
from app.catalog import load_presets
from app.domain.clock import SystemClock
from app.domain.events import Event, EventType
from app.domain.music_plan import MusicPlan, build_plan
from app.domain.playlists import Playlist
from app.domain.session import SessionInfo, replay
from app.music import DeckPair
from tests.audio.media import RATE, WAV_HEADER, pitch_hz, read_wav, rms, stepped_frames, tone_frames, until, write_wav

PRESET = load_presets(Path(__file__).resolve().parents[2] / "presets")["ketamine_im"]
BASE_HZ, STEP_HZ = 300, 40  # the stepped track: second k sounds at 300 + 40 k Hz


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("library")
    write_wav(folder / "a440.wav", tone_frames(9, 440))
    write_wav(folder / "b660.wav", tone_frames(9, 660))
    write_wav(folder / "stepped.wav", stepped_frames(40, BASE_HZ, STEP_HZ))
    return folder


def arrival_playlist(*tracks: tuple[str, float], crossfade_s: float = 4) -> Playlist:
    """A playlist for the ketamine IM preset whose arrival plays these tracks."""
    segments: dict[str, Any] = {
        p.music: {"tracks": [{"path": tracks[0][0], "title": "t", "artist": "a", "duration_s": tracks[0][1]}]}
        for p in PRESET.phases
    }
    segments["arrival"] = {"tracks": [{"path": p, "title": p, "artist": "test", "duration_s": d} for p, d in tracks]}
    return Playlist.model_validate(
        {
            "id": "t",
            "title": "T",
            "curator": "C",
            "source": "tests",
            "presets": ["ketamine_im"],
            "library": "demo",
            "crossfade_s": crossfade_s,
            "segments": segments,
        }
    )


def plan_from(playlist: Playlist, started_at: float, now: float) -> MusicPlan:
    info = SessionInfo(id="s", room="r", preset=PRESET)
    state = replay(info, [Event(seq=0, at=started_at, type=EventType.STARTED)], now)
    return build_plan(playlist, state.phases, now)


class Room:
    """A DeckPair on two afile decks and the wall clock, with its run loop."""

    def __init__(self, out: Path, library: Path) -> None:
        a, b = deck_outputs(f"afile:{out}")
        self.files = (Path(a.removeprefix("afile:")), Path(b.removeprefix("afile:")))
        self.decks = (VlcPlayer(a, name="a"), VlcPlayer(b, name="b"))
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.room = DeckPair(
            "test",
            self.decks,
            {"demo": library},
            SystemClock(),
            ceiling_pct=80,
            volume_pct=60,
            on_event=lambda kind, detail: self.events.append((kind, detail)),
        )
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Room:
        await self.room.start()
        self.task = asyncio.create_task(self.room.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.room.close()

    def sizes(self) -> tuple[int, int]:
        return tuple(f.stat().st_size if f.exists() else 0 for f in self.files)  # type: ignore[return-value]


def last_growth(timeline: list[tuple[float, int, int]], deck: int) -> float:
    """When a deck's file last grew (deck 1: a, 2: b; 0 is the time)."""
    last = timeline[0][0]
    for before, after in itertools.pairwise(timeline):
        if after[deck] > before[deck]:
            last = after[0]
    return last


@pytest.fixture
async def room(tmp_path: Path, library: Path) -> AsyncIterator[Room]:
    async with Room(tmp_path / "room.wav", library) as r:
        yield r


async def test_a_crossfade_writes_both_tracks_at_once(room: Room) -> None:
    playlist = arrival_playlist(("a440.wav", 9), ("b660.wav", 9), crossfade_s=3)
    now = time.time()
    plan = plan_from(playlist, now, now)
    assert plan.tracks[1].start == pytest.approx(now + 6)  # B starts 3 s before A's end
    await room.room.follow(plan, playlist)
    # Watch both files grow on the wall clock: when did each deck write audio? (Until A's file is
    # complete: the segment loops, and A's deck starting again would begin a new file.)
    timeline: list[tuple[float, int, int]] = [(time.monotonic(), *room.sizes())]
    async with asyncio.timeout(20):
        while not (timeline[-1][2] > WAV_HEADER and timeline[-1][0] - last_growth(timeline, 1) > 1.0):
            await asyncio.sleep(0.05)
            timeline.append((time.monotonic(), *room.sizes()))
    a_samples, rate, _ = read_wav(room.files[0])
    await until(lambda: room.sizes()[1] > WAV_HEADER + RATE * 2 * 2, "two seconds of B")
    b_samples, _, _ = read_wav(room.files[1])
    b_started = next(t for t, _, b in timeline if b > WAV_HEADER)
    overlap = last_growth(timeline, 1) - b_started
    # Planned: 3 s of crossfade; A's fade-out ends 1.5 s before its file does (VlcPlayer.drain_s: no
    # volume reaches a file's last, buffered second) and A's deck stops then: both decks write for ~1.5 s.
    assert 0.8 <= overlap <= 2.5, f"both decks wrote audio for {overlap:.1f} s"
    # And what each deck wrote is its own track, audible to the end of the overlap.
    a_tail, b_head = a_samples[-rate // 2 :], b_samples[: rate // 2]
    assert abs(pitch_hz(a_tail, rate) - 440) < 20 and rms(a_tail) > 5_000
    assert abs(pitch_hz(b_head, rate) - 660) < 20 and rms(b_head) > 5_000
    # A played through the crossfade to where its fade-out ends, 7.5 s, and stopped there, before the
    # end of its file (afile does not apply the volume, and writes up to about 1 s ahead of the clock).
    assert 7.4 < len(a_samples) / rate < 8.8
    assert [d["path"] for k, d in room.events if k == "track_started"] == ["a440.wav", "b660.wav"]


async def test_a_pause_stops_the_output_growing(room: Room) -> None:
    playlist = arrival_playlist(("stepped.wav", 40))
    now = time.time()
    await room.room.follow(plan_from(playlist, now, now), playlist)
    await until(lambda: room.sizes()[0] > WAV_HEADER + RATE * 2, "a second of output")
    await room.room.pause()
    assert room.room.status().state == "paused"
    await asyncio.sleep(1.5)  # afile writes ahead: let what was buffered land
    settled = room.sizes()
    await asyncio.sleep(0.7)
    assert room.sizes() == settled, "the output kept growing while paused"
    await room.room.resume()
    await until(lambda: room.sizes()[0] > settled[0], "the output to grow again")
    assert room.room.status().state == "playing"


async def test_after_a_restart_it_resumes_at_the_planned_position(room: Room) -> None:
    playlist = arrival_playlist(("stepped.wav", 40))
    now = time.time()
    plan = plan_from(playlist, now - 20.4, now)  # the session (and its music) started 20.4 s ago
    (planned,) = plan.at(now)
    assert planned.position_at(now) == pytest.approx(20.4)
    await room.room.follow(plan, playlist)
    deck = room.decks[0]
    assert deck.status().volume_pct < 10  # fading in, not at full volume
    await until(lambda: room.sizes()[0] > WAV_HEADER + RATE * 2 // 2, "half a second of output")
    samples, rate, _ = read_wav(room.files[0])
    # libVLC sometimes writes a few milliseconds from the top of the file before :start-time
    # takes effect (silent in the room: the deck starts at volume 0): measure from 0.2 s on.
    heard_hz = pitch_hz(samples[rate // 5 : rate // 5 + rate // 4], rate)
    second = (heard_hz - BASE_HZ) / STEP_HZ
    assert abs(second - 0.2 - 20.4) <= 1.0, f"started at about {second - 0.2:.1f} s into the track, planned 20.4 s"
    status = room.room.status()
    assert status.now_playing is not None and abs(status.now_playing.position_s - 20.4) < 2
    await until(lambda: deck.status().volume_pct == 60, "the fade-in to reach the room volume")
