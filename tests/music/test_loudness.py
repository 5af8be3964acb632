"""Loudness on real files: ffmpeg's ebur128 meter, gains that match tracks, the cache beside the library,
and what libVLC plays of a file having the loudness measured in it.

Test tracks are made here with ffmpeg's signal generators (pink noise, tones): no recordings."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import wave
from collections.abc import Sequence
from pathlib import Path

import pytest

from app.audio import VlcPlayer
from app.domain.loudness import LoudnessTarget, TrackLoudness, gain_db
from app.domain.playlists import Playlist
from app.music.loudness import (
    CACHE_NAME,
    AnalyserUnavailable,
    LoudnessCache,
    LoudnessError,
    audio_files,
    gains_for,
    measure,
    read_replaygain,
    scan,
    scan_library,
)
from tests.audio.media import until

TARGET = LoudnessTarget()  # -18 LUFS, -1 dBTP


def make(
    path: Path, *, level_db: float = 0.0, seconds: float = 12, signal: str = "noise", extra: Sequence[str] = ()
) -> Path:
    """A stereo test track, `level_db` from its signal's level.

    noise: pink noise below 8 kHz (about -14 LUFS, true peak about -2.5 dBTP), which lossy codecs
    keep as it is; tone: 440 Hz at -18 dBFS; peaky: a quiet tone with a 10 ms burst near full
    scale every 2 s (soft on average, sharp peaks)."""
    source = {
        "noise": f"anoisesrc=d={seconds}:c=pink:a=0.9:seed=7,lowpass=f=8000",
        "tone": f"sine=frequency=440:duration={seconds}",
        "peaky": f"aevalsrc=0.03*sin(2*PI*330*t)+0.95*sin(2*PI*1000*t)*lt(mod(t\\,2)\\,0.01):d={seconds}:s=44100",
    }[signal]
    rate = "48000" if path.suffix == ".opus" else "44100"  # Opus has no 44.1 kHz
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "lavfi",
            "-i",
            source,
            "-af",
            f"pan=stereo|c0=c0|c1=c0,volume={level_db}dB",
            "-ar",
            rate,
            *extra,
            str(path),
        ],
        check=True,
    )
    return path


def with_gain(path: Path, gain: float, out: Path) -> Path:
    """The track with a gain applied, as float samples (no clipping or dither of its own)."""
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            "-y",
            "-i",
            str(path),
            "-af",
            f"volume={gain}dB",
            "-c:a",
            "pcm_f32le",
            str(out),
        ],
        check=True,
    )
    return out


class Counting:
    """The real analyser, counting its runs."""

    def __init__(self) -> None:
        self.paths: list[Path] = []

    def __call__(self, path: Path) -> TrackLoudness:
        self.paths.append(path)
        return measure(path)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A small clinic library: mp3, m4a and flac at different levels, in folders, and one broken file."""
    lib = tmp_path / "music"
    make(lib / "Loud" / "noise.mp3")
    make(lib / "Quiet" / "noise.m4a", level_db=-12)
    make(lib / "tone.flac", signal="tone")
    (lib / "Broken").mkdir()
    (lib / "Broken" / "not audio.mp3").write_bytes(b"ID3 but nothing else" * 50)
    (lib / "cover.jpg").write_bytes(b"\xff\xd8 not a track")
    return lib


def test_two_tracks_12_db_apart_come_out_within_1_lu_with_their_gains(tmp_path: Path) -> None:
    loud = make(tmp_path / "loud.flac")
    quiet = make(tmp_path / "quiet.mp3", level_db=-12)
    a, b = measure(loud), measure(quiet)
    assert a.integrated_lufs == pytest.approx(-14, abs=0.5)
    assert a.integrated_lufs - b.integrated_lufs == pytest.approx(12, abs=0.5)
    ga, gb = gain_db(a, TARGET), gain_db(b, TARGET)
    assert ga < 0 < gb
    after_a = measure(with_gain(loud, ga, tmp_path / "loud-gained.wav"))
    after_b = measure(with_gain(quiet, gb, tmp_path / "quiet-gained.wav"))
    assert abs(after_a.integrated_lufs - after_b.integrated_lufs) <= 1
    for after in (after_a, after_b):
        assert after.integrated_lufs == pytest.approx(TARGET.target_lufs, abs=1)
        assert after.true_peak_dbtp <= TARGET.ceiling_dbtp + 0.1


def test_a_track_with_sharp_peaks_is_never_boosted_into_clipping(tmp_path: Path) -> None:
    peaky = make(tmp_path / "peaky.flac", signal="peaky")
    loudness = measure(peaky)
    assert loudness.integrated_lufs < -21 and loudness.true_peak_dbtp > -1
    gain = gain_db(loudness, TARGET)
    assert gain < 0  # 3 dB or more under the target, yet turned down: its peaks are above the ceiling
    after = measure(with_gain(peaky, gain, tmp_path / "peaky-gained.wav"))
    assert after.true_peak_dbtp <= TARGET.ceiling_dbtp + 0.1


def test_every_format_of_a_clinic_library_is_measured_alike(tmp_path: Path) -> None:
    reference = measure(make(tmp_path / "ref.wav"))
    for name, extra in [("a.mp3", ()), ("a.m4a", ()), ("a.flac", ()), ("a.ogg", ("-c:a", "libvorbis")), ("a.opus", ())]:
        got = measure(make(tmp_path / name, extra=extra))
        assert got.integrated_lufs == pytest.approx(reference.integrated_lufs, abs=0.5), name
        assert got.true_peak_dbtp == pytest.approx(reference.true_peak_dbtp, abs=1.0), name


def test_a_file_that_is_not_audio_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"\x00\x01 not an mp3" * 100)
    with pytest.raises(LoudnessError, match="ffmpeg cannot decode it"):
        measure(junk)
    image = make(tmp_path / "silence.flac", level_db=-200, seconds=2)  # digital silence
    silent = measure(image)
    assert silent.integrated_lufs == -70 and silent.true_peak_dbtp == float("-inf")
    assert gain_db(silent, TARGET) == 0


def test_without_ffmpeg_the_message_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(AnalyserUnavailable, match="sudo apt-get install ffmpeg"):
        measure(tmp_path / "x.mp3")


def test_a_second_scan_measures_nothing_and_a_changed_file_is_measured_again(library: Path) -> None:
    assert audio_files(library) == ["Broken/not audio.mp3", "Loud/noise.mp3", "Quiet/noise.m4a", "tone.flac"]
    cache = LoudnessCache.beside(library)
    runs = Counting()
    first = scan_library(library, cache, analyse=runs, jobs=2)
    assert (first.files, first.measured, first.reused, len(runs.paths)) == (4, 4, 0, 4)
    assert set(first.loudness) == {"Loud/noise.mp3", "Quiet/noise.m4a", "tone.flac"}
    assert first.errors["Broken/not audio.mp3"].startswith("ffmpeg cannot decode it")
    stored = json.loads((library / CACHE_NAME).read_text())
    entry = stored["tracks"]["Quiet/noise.m4a"]
    stat = (library / "Quiet" / "noise.m4a").stat()
    assert (entry["size"], entry["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns)
    assert entry["integrated_lufs"] == first.loudness["Quiet/noise.m4a"].integrated_lufs

    # A new process, the same library: nothing is measured again, not even the broken file.
    runs = Counting()
    again = scan_library(library, LoudnessCache.beside(library), analyse=runs)
    assert (again.measured, again.reused, runs.paths) == (4 - 4, 4, [])
    assert again.loudness == first.loudness and again.errors == first.errors

    # A file replaced (new size and mtime) is measured again; one that is gone is forgotten.
    make(library / "tone.flac", signal="tone", level_db=-6)
    os.utime(library / "tone.flac", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    (library / "Loud" / "noise.mp3").unlink()
    runs = Counting()
    cache = LoudnessCache.beside(library)
    third = scan_library(library, cache, analyse=runs)
    assert runs.paths == [library / "tone.flac"] and third.removed == 1 and len(cache) == 3
    assert third.loudness["tone.flac"].integrated_lufs == pytest.approx(
        first.loudness["tone.flac"].integrated_lufs - 6, abs=0.2
    )


def test_a_broken_cache_is_measured_again_and_a_cache_can_live_outside_the_library(
    library: Path, tmp_path: Path
) -> None:
    (library / CACHE_NAME).write_text("{ not json")
    cache = LoudnessCache.beside(library)
    assert cache.problem is not None and "unreadable loudness cache" in cache.problem
    runs = Counting()
    scan_library(library, cache, analyse=runs)
    assert len(runs.paths) == 4 and json.loads((library / CACHE_NAME).read_text())["version"] == 1

    elsewhere = tmp_path / "state" / "loudness.json"  # a read-only library keeps its cache here
    runs = Counting()
    result = scan_library(library, LoudnessCache.beside(library, elsewhere), analyse=runs)
    assert len(runs.paths) == 4 and elsewhere.exists() and result.not_saved is None

    unwritable = LoudnessCache(tmp_path / "a-file" / "loudness.json")
    (tmp_path / "a-file").write_text("a file where the cache's folder should be")
    result = scan(library, ["tone.flac"], unwritable)
    assert result.not_saved is not None and "pass --cache PATH" in result.not_saved
    assert result.loudness["tone.flac"].integrated_lufs < 0  # measured all the same


def test_replaygain_tags_are_used_instead_of_measuring_when_asked(tmp_path: Path) -> None:
    lib = tmp_path / "music"
    make(
        lib / "tagged.flac",
        extra=("-metadata", "REPLAYGAIN_TRACK_GAIN=-4.50 dB", "-metadata", "REPLAYGAIN_TRACK_PEAK=0.500000"),
    )
    make(lib / "untagged.flac")
    tagged = read_replaygain(lib / "tagged.flac")
    assert tagged is not None and tagged.integrated_lufs == -13.5 and tagged.source == "replaygain"
    assert read_replaygain(lib / "untagged.flac") is None
    runs = Counting()
    result = scan_library(lib, LoudnessCache.beside(lib), analyse=runs, replaygain=True)
    assert runs.paths == [lib / "untagged.flac"] and result.from_tags == 1
    assert LoudnessCache.beside(lib).get("tagged.flac", (lib / "tagged.flac").stat()) is not None


def test_a_playlist_s_gains_come_from_the_cache_only(library: Path) -> None:
    tracks = [
        {"path": p, "title": p, "artist": "test", "duration_s": 12}
        for p in ("Loud/noise.mp3", "Quiet/noise.m4a", "tone.flac", "not/there.flac")
    ]
    playlist = Playlist.model_validate(
        {
            "id": "t",
            "title": "T",
            "curator": "C",
            "source": "tests",
            "presets": ["ketamine_im"],
            "library": "clinic",
            "segments": {"arrival": {"tracks": tracks}},
        }
    )
    cache = LoudnessCache.beside(library)
    assert gains_for(playlist, library, cache) == {}  # nothing measured yet: no gain, and nothing measured now
    scan(library, ["Loud/noise.mp3", "Quiet/noise.m4a"], cache)
    gains = gains_for(playlist, library, LoudnessCache.beside(library))
    assert set(gains) == {"Loud/noise.mp3", "Quiet/noise.m4a"}
    assert gains["Quiet/noise.m4a"] - gains["Loud/noise.mp3"] == pytest.approx(12, abs=0.5)


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


async def test_what_libvlc_plays_of_each_file_has_the_loudness_measured_in_it(tmp_path: Path) -> None:
    """The gain is computed from the file: libVLC's decoding must not change its level (mp3, m4a, flac)."""
    tracks = [
        make(tmp_path / "in" / name, level_db=level, seconds=4)
        for name, level in [("loud.mp3", 0), ("quiet.m4a", -12), ("mid.flac", -6)]
    ]
    for track in tracks:
        out = tmp_path / "out" / f"{track.stem}.wav"
        player = VlcPlayer(output=f"afile:{out}", name=track.stem)
        await player.start()
        ended = asyncio.Event()
        player.set_listener(lambda event, ended=ended: ended.set() if event.kind == "ended" else None)
        try:
            await player.play(str(track))
            await until(ended.is_set, f"{track.name} to play to its end", timeout_s=20)
        finally:
            await player.close()
        assert _wav_seconds(out) == pytest.approx(4, abs=0.3)
        played, in_file = measure(out), measure(track)
        assert played.integrated_lufs == pytest.approx(in_file.integrated_lufs, abs=0.5), track.name
