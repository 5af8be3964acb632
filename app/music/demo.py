"""Demo music: slow ambient chords synthesised with the standard library, so the demo plays without
any copyrighted file.

Each track is a few chords of sine partials that swell gently and crossfade into one another.
Every partial is a multiple of 5 Hz, so a 0.2 s block holds whole periods of all of them and
starts at a zero crossing: the level can change from block to block without a click, and a
track is assembled from a few precomputed blocks at C speed (about a second for all of them).
Mono, 16-bit, 22.05 kHz WAV; generation is idempotent (complete files are left alone).
"""

from __future__ import annotations

import array
import math
import os
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

from app.domain.playlists import Playlist
from app.domain.presets import Preset

RATE = 22_050
BLOCK = RATE // 5  # 0.2 s: whole periods of every multiple of 5 Hz
BLOCK_S = BLOCK / RATE
PEAK = 0.32  # of full scale, per chord; two chords in a crossfade stay below 0.7
CHORD_FADE_S = 4.0
TRACK_FADE_S = 4.0
LEVELS = 512


@dataclass(frozen=True)
class DemoTrack:
    file: str
    title: str
    duration_s: int
    chords: tuple[tuple[int, ...], ...]  # partial frequencies in Hz, each a multiple of 5
    swell_s: float  # period of the slow swell in level


DEMO_ARTIST = "Arcroom demo (generated)"
DEMO_TRACKS: tuple[DemoTrack, ...] = (
    DemoTrack("threshold.wav", "Threshold", 96, ((75, 145, 220, 295), (100, 145, 195, 245, 295)), 13.0),
    DemoTrack("first-light.wav", "First Light", 80, ((110, 165, 220, 275, 330), (145, 220, 295, 370)), 11.0),
    DemoTrack("rising-air.wav", "Rising Air", 64, ((80, 165, 245, 330, 410), (110, 165, 220, 275)), 9.0),
    DemoTrack(
        "open-sky.wav",
        "Open Sky",
        120,
        ((65, 130, 195, 260, 330), (110, 165, 220, 260, 330), (85, 175, 220, 260, 350)),
        17.0,
    ),
    DemoTrack("deep-field.wav", "Deep Field", 112, ((75, 145, 220, 295, 350), (100, 195, 245, 295)), 19.0),
    DemoTrack("slow-tide.wav", "Slow Tide", 100, ((85, 130, 175, 260, 350), (65, 130, 195, 260)), 15.0),
    DemoTrack("homeward.wav", "Homeward", 88, ((100, 145, 195, 245, 295), (75, 145, 220, 290)), 12.0),
    DemoTrack("evening-room.wav", "Evening Room", 48, ((55, 110, 165, 220, 275), (80, 165, 245, 330)), 10.0),
)

# Which demo tracks play for each music segment name the presets use (others fall back to "peak").
DEMO_SEGMENTS: dict[str, tuple[str, ...]] = {
    "arrival": ("threshold.wav", "first-light.wav"),
    "onset": ("first-light.wav", "rising-air.wav"),
    "ascent": ("rising-air.wav", "open-sky.wav"),
    "peak": ("open-sky.wav", "deep-field.wav"),
    "plateau": ("deep-field.wav", "slow-tide.wav"),
    "descent": ("slow-tide.wav", "deep-field.wav"),
    "return": ("homeward.wav", "slow-tide.wav"),
    "closing": ("evening-room.wav", "homeward.wav"),
}


def expected_size(track: DemoTrack) -> int:
    return 44 + track.duration_s * RATE * 2


def generate_demo_library(directory: Path) -> list[Path]:
    """Write the demo tracks into `directory` (created if needed); returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for track in DEMO_TRACKS:
        path = directory / track.file
        if path.exists() and path.stat().st_size == expected_size(track):
            continue
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with wave.open(str(tmp), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(RATE)
                w.writeframes(synthesise(track))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        written.append(path)
    return written


def synthesise(track: DemoTrack) -> bytes:
    """The track's 16-bit little-endian mono samples."""
    periods = [_chord_block(chord, seed) for seed, chord in enumerate(track.chords)]
    blocks = round(track.duration_s / BLOCK_S)
    dwell = track.duration_s / len(track.chords)
    cache: dict[tuple[int, int, int, int], bytes] = {}
    out = bytearray()
    for b in range(blocks):
        t = (b + 0.5) * BLOCK_S
        edge = min(1.0, t / TRACK_FADE_S, (track.duration_s - t) / TRACK_FADE_S)
        swell = 0.78 + 0.22 * math.sin(2 * math.pi * t / track.swell_s)
        level = max(0.0, edge) * swell
        # Which chord sounds, or which two around a change (centred on the change, CHORD_FADE_S long).
        k, mix = min(int(t // dwell), len(track.chords) - 1), 0.0
        for j in range(len(track.chords) - 1):
            centre = (j + 1) * dwell
            if abs(t - centre) < CHORD_FADE_S / 2:
                k, mix = j, (t - centre + CHORD_FADE_S / 2) / CHORD_FADE_S
        a = _quantise(level * math.cos(0.5 * math.pi * mix))
        b_level = _quantise(level * math.sin(0.5 * math.pi * mix))
        nxt = min(k + 1, len(track.chords) - 1)
        key = (k, a, nxt, b_level)
        block = cache.get(key)
        if block is None:
            block = _mix(periods[k], a, periods[nxt], b_level)
            cache[key] = block
        out += block
    return bytes(out)


def _quantise(level: float) -> int:
    return round(min(1.0, max(0.0, level)) * (LEVELS - 1))


def _chord_block(freqs: tuple[int, ...], seed: int) -> list[float]:
    """One 0.2 s block of the chord, normalised to a peak of 1, starting and ending at zero."""
    for f in freqs:
        if f % 5:
            raise ValueError(f"{f} Hz is not a multiple of 5 Hz")
    weights = [1.0 / (1 + 0.6 * i) for i in range(len(freqs))]
    samples = [0.0] * BLOCK
    for f, wgt in zip(freqs, weights, strict=False):
        step = 2 * math.pi * f / RATE
        for n in range(BLOCK):
            samples[n] += wgt * math.sin(step * n)
    peak = max(abs(s) for s in samples) or 1.0
    return [s / peak for s in samples]


def _mix(first: list[float], level_a: int, second: list[float], level_b: int) -> bytes:
    ga = PEAK * 32767 * level_a / (LEVELS - 1)
    gb = PEAK * 32767 * level_b / (LEVELS - 1)
    if level_b == 0:
        samples = array.array("h", (int(ga * s) for s in first))
    else:
        samples = array.array("h", (int(ga * s + gb * r) for s, r in zip(first, second, strict=False)))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


# --- the demo playlists (playlists/demo_<preset>.yaml) ---


def demo_playlist(preset: Preset) -> Playlist:
    """A playlist of the demo tracks covering every music segment of the preset, each looping."""
    by_file = {t.file: t for t in DEMO_TRACKS}
    segments = {}
    for phase in preset.phases:
        if phase.music in segments:
            continue
        files = DEMO_SEGMENTS.get(phase.music, DEMO_SEGMENTS["peak"])
        segments[phase.music] = {
            "tracks": [
                {"path": f, "title": by_file[f].title, "artist": DEMO_ARTIST, "duration_s": by_file[f].duration_s}
                for f in files
            ],
            "overrun": "loop",
            "on_phase_end": "crossfade",
            "phase_end_crossfade_s": 10,
        }
    return Playlist.model_validate(
        {
            "id": f"demo_{preset.id}",
            "title": f"Demo music for {preset.name}",
            "curator": "Arcroom",
            "source": "Generated ambient chords (app/music/demo.py); no recordings, no copyright",
            "presets": [preset.id],
            "library": "demo",
            "crossfade_s": 8,
            "segments": segments,
        }
    )
