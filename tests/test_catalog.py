"""Data files: the shipped ones load; broken ones fail naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.catalog import load_presets, load_profiles, load_rooms
from app.config_files import ConfigFileError

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = {"psilocybin", "mdma", "ketamine_iv", "ketamine_im", "ketamine_sublingual", "esketamine", "lsd"}


def test_shipped_presets_cover_the_required_substances_and_name_sources() -> None:
    presets = load_presets(ROOT / "presets")
    assert set(presets) >= REQUIRED
    for preset in presets.values():
        assert preset.source.strip()
        assert preset.phases[0].name == "arrival" and preset.phases[-1].name == "closing"
    assert presets["mdma"].booster is not None
    assert presets["esketamine"].min_observation_min == 120
    assert {c.kind for c in presets["esketamine"].cues} >= {"blood_pressure"}


def test_shipped_demo_rooms_file_loads() -> None:
    rooms = load_rooms(ROOT / "rooms.demo.yaml", load_profiles(ROOT / "device_profiles"))
    assert "demo" in rooms


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_broken_preset_names_file_line_and_field(tmp_path: Path) -> None:
    good = (ROOT / "presets" / "esketamine.yaml").read_text()
    broken = good.replace("duration_min: 25", "duration_min: soon", 1)
    assert broken != good
    path = write(tmp_path, "esketamine.yaml", broken)
    line = broken.splitlines().index(next(text for text in broken.splitlines() if "duration_min: soon" in text)) + 1
    with pytest.raises(ConfigFileError) as caught:
        load_presets(tmp_path)
    assert f"{path}:{line}: phases[1].duration_min: Input should be a valid number" in str(caught.value)


def test_a_preset_whose_id_differs_from_its_file_is_refused(tmp_path: Path) -> None:
    text = (ROOT / "presets" / "lsd.yaml").read_text()
    path = write(tmp_path, "lsd-200ug.yaml", text)
    with pytest.raises(ConfigFileError, match=rf"{path}:\d+: id: must equal the file name 'lsd-200ug'"):
        load_presets(tmp_path)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "rooms.yaml", "rooms:\n  - id: one\n    name: [unclosed\n")
    with pytest.raises(ConfigFileError, match=rf"{path}:\d+: invalid YAML"):
        load_rooms(path, load_profiles(ROOT / "device_profiles"))


def test_a_light_with_an_unknown_profile_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rooms.yaml",
        "rooms:\n  - id: one\n    name: One\n    lights:\n"
        "      - {name: ceiling, profile: no_such_profile, topic: x, role: ceiling}\n",
    )
    with pytest.raises(ConfigFileError, match=rf"{path}:5: rooms\[0\]\.lights\[0\]\.profile: no device profile"):
        load_rooms(path, load_profiles(ROOT / "device_profiles"))


def test_unknown_keys_are_errors_not_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "rooms.yaml", "rooms:\n  - id: one\n    name: One\n    colour: blue\n")
    with pytest.raises(ConfigFileError, match=rf"{path}:4: rooms\[0\]\.colour: Extra inputs are not permitted"):
        load_rooms(path, load_profiles(ROOT / "device_profiles"))


@pytest.mark.parametrize(
    ("audio", "error"),
    [
        ("{output: snapcast}", r"rooms\[0\]\.audio: .*output snapcast needs a snapcast: section"),
        (
            '{output: pulse, snapcast: {stream: room1, source: "tcp://127.0.0.1:4953", clients: [p1]}}',
            r"rooms\[0\]\.audio: .*only read with output: snapcast",
        ),
        (
            '{output: snapcast, snapcast: {stream: room1, source: "http://x:4953", clients: [p1]}}',
            r"rooms\[0\]\.audio\.snapcast\.source: .*tcp://HOST:PORT",
        ),
        (
            '{output: snapcast, snapcast: {stream: room1, source: "tcp://127.0.0.1:4953", clients: []}}',
            r"rooms\[0\]\.audio\.snapcast\.clients: ",
        ),
    ],
)
def test_a_snapcast_room_is_checked_when_the_file_is_read(tmp_path: Path, audio: str, error: str) -> None:
    path = write(tmp_path, "rooms.yaml", f"rooms:\n  - id: one\n    name: One\n    audio: {audio}\n")
    with pytest.raises(ConfigFileError, match=rf"{path}:4: {error}"):
        load_rooms(path, load_profiles(ROOT / "device_profiles"))


def test_a_snapcast_room_reads_with_its_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rooms.yaml",
        "rooms:\n  - id: one\n    name: One\n    audio:\n      output: snapcast\n"
        '      snapcast: {stream: room1, source: "pipe:///run/snapserver/room1", clients: [p1, p2]}\n',
    )
    snapcast = load_rooms(path, load_profiles(ROOT / "device_profiles"))["one"].audio.snapcast
    assert snapcast is not None
    assert (snapcast.host, snapcast.control_port, snapcast.clients) == ("127.0.0.1", 1705, ("p1", "p2"))
