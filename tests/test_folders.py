"""Where the service finds its files: shipped data, the clinic's config folder laid over it, the data folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.catalog import Catalog
from app.cli import main
from app.config_files import ConfigFileError
from app.settings import SHIPPED_DIR, Settings, data_folder_problems

ROOT = Path(__file__).resolve().parents[1]
CLINIC_ROOMS = """\
rooms:
  - id: room1
    name: Room 1
    lights:
      - {name: ceiling, profile: clinic_bulb, topic: room1_ceiling, role: ceiling}
    audio: {output: dummy}
"""


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def catalog(s: Settings) -> Catalog:
    return Catalog.load(s.presets_dir, s.rooms_file, s.device_profiles_dir, s.scenes_file, s.playlists_dir)


def test_a_checkout_runs_on_the_repository_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ARCROOM_CONFIG_DIR", "ARCROOM_DATA_DIR", "ARCROOM_DATABASE", "ARCROOM_ROOMS_FILE"):
        monkeypatch.delenv(name, raising=False)
    s = settings()
    assert SHIPPED_DIR == ROOT and s.config_dir is None
    assert (s.database, s.demo_music_dir) == (ROOT / "var" / "arcroom.db", ROOT / "var" / "demo-music")
    assert (s.rooms_file, s.scenes_file) == (ROOT / "rooms.demo.yaml", ROOT / "scenes.yaml")
    assert (s.presets_dir, s.device_profiles_dir, s.playlists_dir) == (
        (ROOT / "presets",),
        (ROOT / "device_profiles",),
        (ROOT / "playlists",),
    )


def test_the_data_folder_holds_the_database_and_demo_music_unless_each_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCROOM_DATA_DIR", str(tmp_path / "data"))
    s = settings()
    assert (s.database, s.demo_music_dir) == (tmp_path / "data" / "arcroom.db", tmp_path / "data" / "demo-music")
    monkeypatch.setenv("ARCROOM_DATABASE", str(tmp_path / "elsewhere.db"))
    assert settings().database == tmp_path / "elsewhere.db"


def test_the_clinics_files_are_laid_over_the_shipped_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "etc-arcroom"
    (config / "presets").mkdir(parents=True)
    (config / "device_profiles").mkdir()
    lsd = (ROOT / "presets" / "lsd.yaml").read_text()
    assert "name: LSD" in lsd
    (config / "presets" / "lsd.yaml").write_text(lsd.replace("name: LSD", "name: LSD (our protocol)", 1))
    (config / "presets" / "lsd_low.yaml").write_text(lsd.replace("id: lsd", "id: lsd_low", 1))
    profile = (ROOT / "device_profiles" / "zigbee2mqtt.yaml").read_text()
    (config / "device_profiles" / "clinic_bulb.yaml").write_text(profile.replace("id: zigbee2mqtt", "id: clinic_bulb"))
    (config / "rooms.yaml").write_text(CLINIC_ROOMS)
    monkeypatch.setenv("ARCROOM_CONFIG_DIR", str(config))
    s = settings()
    assert s.presets_dir == (ROOT / "presets", config / "presets")
    assert s.playlists_dir == (ROOT / "playlists",)  # the clinic has no playlists folder: the shipped ones
    assert (s.rooms_file, s.scenes_file) == (config / "rooms.yaml", ROOT / "scenes.yaml")

    loaded = catalog(s)
    assert loaded.presets["lsd"].name == "LSD (our protocol), full dose"  # same file name: the clinic's replaces ours
    assert "lsd_low" in loaded.presets and "mdma" in loaded.presets  # a new file adds; the rest stay
    assert set(loaded.profiles) == {p.stem for p in (ROOT / "device_profiles").glob("*.yaml")} | {"clinic_bulb"}
    assert list(loaded.rooms) == ["room1"]
    # An explicit folder still replaces the whole stack, as ARCROOM_PRESETS_DIR always did.
    monkeypatch.setenv("ARCROOM_PRESETS_DIR", str(config / "presets"))
    assert settings().presets_dir == (config / "presets",)


def test_a_mistake_in_the_clinics_file_names_that_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "presets").mkdir()
    bad = (ROOT / "presets" / "esketamine.yaml").read_text().replace("duration_min: 35", "duration_min: forty", 1)
    assert "forty" in bad
    (tmp_path / "presets" / "esketamine.yaml").write_text(bad)
    monkeypatch.setenv("ARCROOM_CONFIG_DIR", str(tmp_path))
    with pytest.raises(
        ConfigFileError,
        match=rf"{tmp_path}/presets/esketamine.yaml:\d+: phases\[\d\]"
        r"\.duration_min: Input should be a valid number",
    ):
        catalog(settings())


def test_a_config_folder_that_is_not_there_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARCROOM_CONFIG_DIR", str(tmp_path / "etc-arcrom"))
    with pytest.raises(ValidationError, match="etc-arcrom is not a folder"):
        settings()
    assert main(["presets"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"arcroom: invalid setting ARCROOM_CONFIG_DIR: {tmp_path / 'etc-arcrom'} is not a folder",
    ]


def test_several_folders_in_one_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCROOM_PLAYLISTS_DIR", f"{ROOT / 'playlists'}:{tmp_path}")
    assert settings().playlists_dir == (ROOT / "playlists", tmp_path)


def test_serve_says_which_data_folder_it_cannot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("ARCROOM_DATA_DIR", str(tmp_path / "a-file" / "arcroom"))
    assert data_folder_problems(settings())[0].startswith(f"cannot create {tmp_path / 'a-file' / 'arcroom'}")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "cannot create" in err and "set ARCROOM_DATA_DIR to a folder this user may write to" in err
    monkeypatch.setenv("ARCROOM_DATA_DIR", str(tmp_path / "data"))
    assert data_folder_problems(settings()) == [] and (tmp_path / "data" / "demo-music").is_dir()
