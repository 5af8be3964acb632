"""Playlist files: their format, their errors, and the ones that ship."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.catalog import load_playlists, load_presets
from app.config_files import ConfigFileError
from app.domain.playlists import (
    Playlist,
    Track,
    check_against_presets,
    default_candidates,
    format_duration,
    parse_duration,
)

ROOT = Path(__file__).resolve().parents[2]
PRESETS = load_presets(ROOT / "presets")
SHIPPED = load_playlists(ROOT / "playlists")

GOOD = """\
id: calm
title: Calm
curator: A. Guide
source: the clinic's own selection
presets: [ketamine_im]
library: clinic
segments:
  arrival:
    tracks:
      - {path: a/one.flac, title: One, artist: Someone, duration_s: "4:05"}
"""


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (245, 245.0),
        (12.5, 12.5),
        ("245", 245.0),
        ("4:05", 245.0),
        ("0:59", 59.0),
        ("1:02:03", 3723.0),
        ("26:47", 1607.0),
        ("3:32.5", 212.5),
        (" 2:19 ", 139.0),
    ],
)
def test_durations_are_seconds_or_clock_strings(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", [0, -3, "0:00", "4:65", "1:75:00", "abc", "4:5:6:7", True, None, [], "nan"])
def test_bad_durations_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_format_duration_round_trips() -> None:
    assert format_duration(245) == "4:05"
    assert format_duration(3723) == "1:02:03"
    assert parse_duration(format_duration(1607)) == 1607


@pytest.mark.parametrize("path", ["/abs/one.flac", "../outside.flac", "a/../../b.flac", "C:/music/x.flac"])
def test_track_paths_stay_inside_the_library(path: str) -> None:
    with pytest.raises(ValidationError, match="library"):
        Track(path=path, title="t", artist="a", duration_s=10)


def test_a_url_is_a_track_too() -> None:
    track = Track(path="https://radio.example/stream.ogg", title="t", artist="a", duration_s="1:00:00")
    assert track.is_url and track.duration_s == 3600


def test_segment_and_playlist_defaults() -> None:
    playlist = Playlist.model_validate(load_yaml_text(GOOD))
    seg = playlist.segments["arrival"]
    assert (seg.overrun, seg.on_phase_end, seg.phase_end_crossfade_s, seg.crossfade_s) == (
        "loop",
        "crossfade",
        20,
        None,
    )
    assert playlist.crossfade_s == 8 and playlist.crossfade_for("arrival") == 8
    assert seg.tracks[0].duration_s == 245


def load_yaml_text(text: str) -> object:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(text)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_loading_a_folder_keys_playlists_by_file_name(tmp_path: Path) -> None:
    write(tmp_path, "calm.yaml", GOOD)
    assert list(load_playlists(tmp_path)) == ["calm"]


def test_an_unknown_key_is_an_error_naming_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "calm.yaml", GOOD.replace("      - {path", "      - {lenght: 3, path"))
    with pytest.raises(ConfigFileError) as err:
        load_playlists(tmp_path)
    assert err.value.problems == [f"{path}:10: segments.arrival.tracks[0].lenght: Extra inputs are not permitted"]


def test_a_bad_duration_is_an_error_naming_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "calm.yaml", GOOD.replace('"4:05"', '"four minutes"'))
    with pytest.raises(ConfigFileError) as err:
        load_playlists(tmp_path)
    (problem,) = err.value.problems
    assert problem.startswith(f"{path}:10: segments.arrival.tracks[0].duration_s: Value error, 'four minutes'")


def test_the_id_must_match_the_file_name_and_every_file_is_reported(tmp_path: Path) -> None:
    a = write(tmp_path, "other.yaml", GOOD)
    b = write(tmp_path, "zz.yaml", GOOD.replace("overrun", "x").replace("library: clinic", "library: home"))
    with pytest.raises(ConfigFileError) as err:
        load_playlists(tmp_path)
    assert err.value.problems == [
        f"{a}:1: id: must equal the file name 'other'",
        f"{b}:6: library: Input should be 'demo' or 'clinic'",
    ]


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="no playlist files"):
        load_playlists(tmp_path / "nope")


def test_check_against_presets_names_missing_segments_and_presets(tmp_path: Path) -> None:
    write(tmp_path, "calm.yaml", GOOD.replace("[ketamine_im]", "[ketamine_im, ayahuasca]"))
    problems = check_against_presets(load_playlists(tmp_path), PRESETS)
    assert problems == [
        *(
            f"playlist 'calm': no segment {m!r}, which preset 'ketamine_im' plays in phase {m!r}"
            for m in ("onset", "peak", "descent", "return", "closing")
        ),
        "playlist 'calm': presets: no preset 'ayahuasca' (have: esketamine, ketamine_im, ketamine_iv, "
        "ketamine_sublingual, lsd, mdma, psilocybin)",
    ]


def test_the_shipped_playlists_load_and_cover_their_presets() -> None:
    assert check_against_presets(SHIPPED, PRESETS) == []
    for preset_id in PRESETS:
        demo = SHIPPED[f"demo_{preset_id}"]
        assert demo.library == "demo" and demo.presets == [preset_id]
        assert all(seg.overrun == "loop" for seg in demo.segments.values())  # fills any arc


def test_the_hopkins_playlist_is_its_published_structure() -> None:
    hopkins = SHIPPED["hopkins_psilocybin"]
    assert hopkins.library == "clinic" and hopkins.presets == ["psilocybin"]
    tracks = [t for seg in hopkins.segments.values() for t in seg.tracks]
    assert len(tracks) == 49  # as reported in the press and catalogued
    assert format_duration(sum(t.duration_s for t in tracks)) == "6:06:35"
    assert tracks[-1].title == "What a Wonderful World" and tracks[-1].artist == "Louis Armstrong"
    assert [t.duration_s for t in hopkins.segments["ascent"].tracks] == [26 * 60 + 47]  # Gorecki, 27 min
    assert all(not t.is_url and not t.path.startswith("/") for t in tracks)
    # Bach's Passacaglia runs into its Fugue: one work, never crossfaded.
    ret = hopkins.segments["return"].tracks
    assert [(t.title.split(" (")[0], t.join) for t in ret[1:3]] == [("Passacaglia", "crossfade"), ("Fugue", "gapless")]
    assert sum(t.join == "gapless" for t in tracks) == 1


def test_the_2020_hopkins_playlist_keeps_what_is_known_and_says_what_is_not() -> None:
    v2020, v2016 = SHIPPED["hopkins_psilocybin_2020"], SHIPPED["hopkins_psilocybin"]
    assert v2020.presets == ["psilocybin"] and v2020.library == "clinic" and "NOT verified" in v2020.source
    text = (ROOT / "playlists" / "hopkins_psilocybin_2020.yaml").read_text()
    assert "7 h 40 min" in text and "NOT VERIFIED" in text
    closing = v2020.segments["closing"].tracks
    assert closing[-1].title == "Here Comes the Sun"  # verified for the 2020 version
    # Otherwise the 2016 pieces, in order: nothing invented.
    same = [t for name in v2016.segments for t in v2016.segments[name].tracks]
    now = [t for name in v2020.segments for t in v2020.segments[name].tracks]
    assert sorted(t.path for t in now) == sorted(t.path for t in same) and now[:44] == same[:44]
    assert [t.join for t in v2020.segments["return"].tracks[1:3]] == ["crossfade", "gapless"]
    assert default_candidates("psilocybin", SHIPPED, {"demo", "clinic"})[0] is v2016  # the sourced list comes first


def test_the_clinics_playlists_come_first_when_its_library_is_configured_then_the_demos() -> None:
    ids = [p.id for p in default_candidates("psilocybin", SHIPPED, {"demo", "clinic"})]
    assert ids == ["hopkins_psilocybin", "hopkins_psilocybin_2020", "demo_psilocybin"]
    assert [p.id for p in default_candidates("psilocybin", SHIPPED, {"demo"})] == ["demo_psilocybin"]
    assert [p.id for p in default_candidates("mdma", SHIPPED, {"demo", "clinic"})] == ["demo_mdma"]
    assert default_candidates("mdma", SHIPPED, set()) == []


def test_join_and_intensity_are_per_track_and_checked(tmp_path: Path) -> None:
    text = GOOD + (
        '      - {path: a/two.flac, title: Two, artist: Someone, duration_s: "1:00", join: gapless, intensity: 2}\n'
    )
    playlist = Playlist.model_validate(load_yaml_text(text))
    one, two = playlist.segments["arrival"].tracks
    assert (one.join, one.intensity, two.join, two.intensity) == ("crossfade", None, "gapless", 2)
    path = write(tmp_path, "calm.yaml", GOOD.replace('duration_s: "4:05"}', 'duration_s: "4:05", join: gapless}'))
    with pytest.raises(ConfigFileError) as err:
        load_playlists(tmp_path)
    assert err.value.problems == [
        f"{path}:9: segments.arrival.tracks: Value error, the first track of a segment "
        "cannot be `join: gapless`: no track comes before it in the segment (put the "
        "movements it follows in the same segment)"
    ]
    write(tmp_path, "calm.yaml", GOOD.replace('duration_s: "4:05"}', 'duration_s: "4:05", intensity: 9}'))
    with pytest.raises(
        ConfigFileError,
        match=r"calm.yaml:10: segments.arrival.tracks\[0\].intensity: Input should "
        "be less than or equal to 5",
    ):
        load_playlists(tmp_path)
