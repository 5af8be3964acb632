"""The arcroom command: presets table, simulate timeline, and refusing bad settings."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from app.catalog import load_presets
from app.cli import main
from app.settings import Settings

PRESETS = load_presets(Path(__file__).resolve().parents[1] / "presets")


def hm(minutes: float) -> str:
    return f"{int(minutes // 60)}:{int(minutes % 60):02d}"


def test_presets_prints_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for preset in PRESETS.values():
        assert preset.id in out and preset.name in out


def test_simulate_mdma_with_booster_prints_the_correct_timeline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "mdma", "--booster-at", "1:45"]) == 0
    out = capsys.readouterr().out
    preset = PRESETS["mdma"]
    assert preset.booster is not None
    t = 0.0
    for phase in preset.phases[1:]:
        line = next(line for line in out.splitlines() if f"phase  {phase.name} " in line)
        assert line.split()[0] == hm(t), line
        if phase.name == preset.booster.extends_phase:
            t += preset.booster.extend_min
        t += phase.duration_min or 0
    assert any(line.split()[0] == "1:45" and "booster given" in line for line in out.splitlines())
    vitals = [line.split()[0] for line in out.splitlines() if " cue    vitals@" in line]
    assert vitals[:3] == ["0:30", "1:00", "1:30"]
    assert f"{hm(preset.min_observation_min)}  minimum observation time reached" in out


def test_simulate_extend_moves_later_phases(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "psilocybin", "--extend", "peak=30"]) == 0
    out = capsys.readouterr().out
    preset = PRESETS["psilocybin"]
    descent = sum(p.duration_min or 0 for p in preset.phases[1 : preset.phase_index("descent")]) + 30
    assert any(line.split()[0] == hm(descent) and "phase  descent" in line for line in out.splitlines())


def test_simulate_unknown_preset_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "ayahuasca"]) == 2
    assert "no preset 'ayahuasca'" in capsys.readouterr().err


def test_serve_refuses_an_open_service_off_loopback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARCROOM_HOST", "0.0.0.0")
    monkeypatch.delenv("ARCROOM_TOKENS", raising=False)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0 with no access tokens" in err


def test_serve_refuses_short_tokens(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ARCROOM_TOKENS", '[{"name": "tablet", "role": "therapist", "token": "short"}]')
    assert main(["serve"]) == 2
    assert "at least 16 characters" in capsys.readouterr().err


def test_token_new_prints_a_strong_entry_that_the_settings_take_even_while_they_hold_a_weak_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARCROOM_TOKENS", '[{"name": "tablet", "role": "therapist", "token": "…32 random characters…"}]')
    entries = []
    for _ in range(2):
        assert main(["token", "new", "--name", "tablet-room-1", "--role", "therapist", "--rooms", "one, two"]) == 0
        out = capsys.readouterr()
        entries.append(json.loads(out.out))
        assert "add this entry to the JSON list in ARCROOM_TOKENS" in out.err
    first, second = entries
    assert first["token"] != second["token"] and len(first["token"]) == 32
    assert {k: v for k, v in first.items() if k != "token"} == {
        "name": "tablet-room-1",
        "role": "therapist",
        "rooms": ["one", "two"],
    }
    monkeypatch.setenv("ARCROOM_TOKENS", json.dumps(entries[:1]))
    assert Settings().tokens[0].rooms == ["one", "two"]


def test_serve_names_the_broken_rooms_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rooms = tmp_path / "rooms.yaml"
    rooms.write_text("rooms:\n  - id: one\n    name: One\n    audio:\n      output: speakers\n")
    monkeypatch.setenv("ARCROOM_ROOMS_FILE", str(rooms))
    assert main(["serve"]) == 2
    assert f"{rooms}:5: rooms[0].audio.output:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("preset", "at", "message"),
    [
        ("psilocybin", "1:45", "arcroom: preset 'psilocybin' has no booster"),
        ("mdma", "0:30", "arcroom: a booster at 0:30 is outside the preset's window (1:30-2:00 after the first dose)"),
        ("mdma", "9:30", "arcroom: a booster at 9:30 is outside the preset's window (1:30-2:00 after the first dose)"),
    ],
)
def test_simulate_refuses_a_booster_the_api_would_refuse_in_one_sentence(
    capsys: pytest.CaptureFixture[str], preset: str, at: str, message: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["simulate", preset, "--booster-at", at])
    assert str(caught.value) == message
    assert "Traceback" not in capsys.readouterr().err


def test_serve_on_a_port_already_taken_says_so_in_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"arcroom: cannot listen on 127.0.0.1:{port}: Address already in use (another service? set ARCROOM_PORT or --port)"
    )
    assert not any("Traceback" in line for line in err)


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in (
        "serve",
        "presets",
        "simulate",
        "playlists",
        "library",
        "backup",
        "restore",
        "export",
        "health",
        "token",
        "check",
        "broker",
    ):
        assert command in out


def test_playlists_check_checks_the_named_playlist_only_and_makes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = tmp_path / "demo-music"
    monkeypatch.setenv("ARCROOM_DEMO_MUSIC_DIR", str(demo))
    library = tmp_path / "music"
    library.mkdir()
    args = ["playlists", "check", "hopkins_psilocybin", "--library", str(library), "--no-probe", "--no-loudness"]
    assert main(args) == 1  # the library has none of its files
    out = capsys.readouterr().out
    assert "hopkins_psilocybin" in out and "demo_psilocybin" not in out and "hopkins_psilocybin_2020" not in out
    assert main(["playlists", "check", "--library", str(library), "--no-probe", "--no-loudness"]) == 1
    err = capsys.readouterr().err
    assert "the demo playlists (demo_esketamine," in err and "generated at the service's first start" in err
    assert not demo.exists()  # 30 MB of demo audio is the service's to make, not a check's
    assert main(["playlists", "check", "hopkins"]) == 2
    assert "no playlist 'hopkins'; have: demo_esketamine" in capsys.readouterr().err


def test_simulate_lights_reads_account_passwords_and_names_a_bad_line(tmp_path: Path) -> None:
    from app.simulators.devices import read_passwords

    good = tmp_path / "device-passwords"
    good.write_text("# account:password\n\none-lamp:lamp-pw:with-colon\nzigbee2mqtt:z2m-password\n")
    assert read_passwords(good) == {"one-lamp": "lamp-pw:with-colon", "zigbee2mqtt": "z2m-password"}
    bad = tmp_path / "bad"
    bad.write_text("one-lamp:pw\njust-a-name\n")
    with pytest.raises(ValueError, match=f"{bad}, line 2: expected account:password"):
        read_passwords(bad)
    assert main(["simulate-lights", "--passwords", str(bad), "--broker", "mqtt://127.0.0.1:1"]) == 2
