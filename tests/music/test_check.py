"""`arcroom playlists check`: missing and unreadable files, declared versus probed lengths, phase fit."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from app.domain.loudness import TrackLoudness
from app.music.check import LoudnessCheck, check_playlists, playlist_report
from app.music.demo import generate_demo_library
from app.music.loudness import LoudnessCache, measure
from tests.audio.media import tone_frames, write_wav
from tests.music.conftest import PLAYLISTS, PRESETS

HOPKINS = {"hopkins_psilocybin": PLAYLISTS["hopkins_psilocybin"]}


@pytest.fixture(scope="module")
def demo_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    generate_demo_library(folder)
    return folder


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    """A clinic library with three of the Hopkins files: one right, one short, one not audio."""
    hopkins = PLAYLISTS["hopkins_psilocybin"]
    right, short, corrupt = (
        hopkins.segments["closing"].tracks[4],
        hopkins.segments["closing"].tracks[0],
        hopkins.segments["arrival"].tracks[1],
    )
    for track in (right, short, corrupt):
        (tmp_path / track.path).parent.mkdir(parents=True, exist_ok=True)
    write_wav(tmp_path / right.path, tone_frames(right.duration_s + 2, 440, rate=8_000), rate=8_000)
    write_wav(tmp_path / short.path, tone_frames(30, 440, rate=8_000), rate=8_000)
    (tmp_path / corrupt.path).write_bytes(b"not audio at all" * 100)
    return tmp_path


def test_the_demo_playlists_check_clean(demo_library: Path) -> None:
    demos = {k: v for k, v in PLAYLISTS.items() if k.startswith("demo_")}
    report = playlist_report(demos, PRESETS, {"demo": demo_library}, probe=True)
    assert report.problems == 0 and report.unchecked == []
    assert report.text.count("files: 12 of 12 found and readable, lengths as declared") == 3  # the ketamine-like ones
    # Minutes of demo music for hours of arc: every timed segment loops, and says so.
    assert report.will_loop == 34 and report.text.count("WARNING short by") == 34
    assert report.text.endswith(
        "7 playlist(s): 0 missing, 0 unreadable, 0 length(s) off by more than 5 s; "
        "34 segment(s) shorter than their phase will loop"
    )


def test_a_clinic_library_is_checked_file_by_file(clinic: Path) -> None:
    report = playlist_report(HOPKINS, PRESETS, {"clinic": clinic}, probe=True)
    text = report.text
    assert (report.missing, report.unreadable, report.duration_mismatches) == (46, 1, 1)
    assert "files: 2 of 49 found" in text
    assert "    MISSING     onset[0] Paul Horn/Inside the Taj Mahal/Mumtaz Mahal.flac" in text
    assert (
        "    UNREADABLE  arrival[1] Vivaldi/Guitar Concertos (Romero)/Concerto RV 93 - II Largo.flac: "
        "no audio length (corrupt, or not an audio file)"
    ) in text
    assert (
        "    LENGTH      closing[0] The Beatles/Abbey Road/Here Comes the Sun.flac: declared 3:06, file 0:30 (-2:36)"
    ) in text
    assert "What a Wonderful World" not in text and "closing[4]" not in text  # within 5 s: fine
    # Each segment against its phase's nominal length, as it plays: less its 4 s crossfades (none at the
    # gapless Passacaglia -> Fugue join in return).
    assert (
        "    onset      onset        6 tracks    27:32 (plays 27:12)  phase    40:00  short by 12:48: continues "
        "into the next segment"
    ) in text
    assert (
        "    descent    descent     12 tracks  1:57:26 (plays 1:56:42)  phase  1:45:00  long by 11:42: finishes "
        "the sounding track when the phase ends"
    ) in text
    assert (
        "    return     return       6 tracks    49:14 (plays 48:58)  phase  1:30:00  WARNING short by 41:02: "
        "it will loop"
    ) in text
    assert "    closing    closing      5 tracks    17:52 (plays 17:36)  phase open-ended: loops" in text
    assert report.will_loop == 1


def test_without_probing_only_presence_is_checked(clinic: Path) -> None:
    text = check_playlists(HOPKINS, PRESETS, {"clinic": clinic}, probe=False)
    assert "files: 3 of 49 found" in text and "LENGTH" not in text and "UNREADABLE" not in text
    assert text.endswith("lengths not probed; 1 segment(s) shorter than their phase will loop")


def test_an_unconfigured_or_absent_library_is_said_so(tmp_path: Path) -> None:
    report = playlist_report(HOPKINS, PRESETS, {}, probe=False)
    assert report.unchecked == ["hopkins_psilocybin"] and report.problems == 0
    assert "library clinic: not configured" in report.text and "--library DIR" in report.text
    gone = playlist_report(HOPKINS, PRESETS, {"clinic": tmp_path / "nope"}, probe=False)
    assert gone.missing == 49 and "does not exist" in gone.text


def test_a_library_copy_is_found_wherever_it_lives(demo_library: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere"
    shutil.copytree(demo_library, copy)
    report = playlist_report({"demo_lsd": PLAYLISTS["demo_lsd"]}, PRESETS, {"demo": copy}, probe=True)
    assert report.problems == 0 and f"library demo: {copy}" in report.text


def test_loudness_is_reported_per_track_and_measured_once(clinic: Path) -> None:
    runs: list[Path] = []

    def counting(path: Path) -> TrackLoudness:
        runs.append(path)
        return measure(path)

    check = LoudnessCheck({"clinic": LoudnessCache.beside(clinic)}, analyse=counting)
    report = playlist_report(HOPKINS, PRESETS, {"clinic": clinic}, probe=False, loudness=check)
    assert len(runs) == 3 and (report.measured, report.reused) == (3, 0)  # the three files there; none missing
    text = report.text
    # The 440 Hz tone at half scale (mono): about -9 LUFS, so it is turned down to -18.
    (line,) = [ln for ln in text.splitlines() if ln.startswith("    closing[4] Louis Armstrong/What a Wonderful")]
    assert re.search(r" -\d\.\d LUFS +-\d\.\d dBTP  gain +-\d+\.\d dB -> +-18\.0 LUFS$", line), line
    assert (
        "arrival[1] Vivaldi/Guitar Concertos (Romero)/Concerto RV 93 - II Largo.flac  not measured: ffmpeg "
        "cannot decode it"
    ) in text
    assert "largest jump between neighbours: fewer than two neighbouring tracks measured" in text
    assert text.endswith("; loudness: 3 file(s) measured, 0 from the cache")

    again = playlist_report(
        HOPKINS,
        PRESETS,
        {"clinic": clinic},
        probe=False,
        loudness=LoudnessCheck({"clinic": LoudnessCache.beside(clinic)}, analyse=counting),
    )
    assert len(runs) == 3 and (again.measured, again.reused) == (0, 3)
