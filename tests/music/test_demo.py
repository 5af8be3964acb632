"""The demo music: generated, not recorded, and enough for every preset's arc."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import pytest

from app.music.demo import DEMO_TRACKS, RATE, demo_playlist, generate_demo_library
from tests.audio.media import pitch_hz, read_wav, rms
from tests.music.conftest import PLAYLISTS, PRESETS


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    assert len(generate_demo_library(folder)) == len(DEMO_TRACKS)
    return folder


def test_every_demo_track_is_a_small_wav_of_its_declared_length(library: Path) -> None:
    for track in DEMO_TRACKS:
        with wave.open(str(library / track.file), "rb") as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
            assert w.getnframes() / RATE == track.duration_s
        assert 45 <= track.duration_s <= 120


def test_the_tracks_are_quiet_ambient_sound_not_silence_and_not_all_alike(library: Path) -> None:
    bodies = set()
    for track in DEMO_TRACKS:
        samples, rate, _ = read_wav(library / track.file)
        body = samples[10 * rate : 20 * rate]
        assert 1_500 < rms(body) < 8_000  # well below full scale (32 767)
        assert max(abs(s) for s in samples) < 0.7 * 32_767
        # Soft edges: the first and last 100 ms are much quieter than the body.
        assert rms(samples[: rate // 10]) < rms(body) / 10 and rms(samples[-rate // 10 :]) < rms(body) / 10
        bodies.add(body.tobytes())
        assert 50 < pitch_hz(body, rate) < 500  # low, slow chords
    assert len(bodies) == len(DEMO_TRACKS)
    assert len({t.chords[0] for t in DEMO_TRACKS}) == len(DEMO_TRACKS)  # each opens on its own chord


def test_generation_is_idempotent_and_repairs_a_broken_file(library: Path) -> None:
    first = library / DEMO_TRACKS[0].file
    stamp = first.stat().st_mtime_ns
    assert generate_demo_library(library) == []
    assert first.stat().st_mtime_ns == stamp
    broken = library / DEMO_TRACKS[1].file
    broken.write_bytes(b"RIFF")  # an interrupted earlier run
    assert generate_demo_library(library) == [broken]
    assert broken.stat().st_size == 44 + DEMO_TRACKS[1].duration_s * RATE * 2


def test_each_presets_demo_playlist_is_the_generated_one_and_plays_only_demo_files() -> None:
    files = {t.file: t for t in DEMO_TRACKS}
    for preset in PRESETS.values():
        shipped = PLAYLISTS[f"demo_{preset.id}"]
        assert shipped == demo_playlist(preset)
        for seg in shipped.segments.values():
            for t in seg.tracks:
                assert t.duration_s == files[t.path].duration_s and t.title == files[t.path].title
        assert {p.music for p in preset.phases} <= set(shipped.segments)


def test_the_chords_sit_on_a_5_hz_grid_so_blocks_join_at_zero() -> None:
    for track in DEMO_TRACKS:
        assert all(f % 5 == 0 for chord in track.chords for f in chord)
        assert not math.isclose(track.swell_s, 0)
