"""The ARCROOM_LOUDNESS_* and ARCROOM_TALK_* settings, as the rooms' music gets them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.domain.loudness import LoudnessTarget
from app.music.options import music_options
from app.settings import Settings


def test_the_settings_reach_the_music_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ARCROOM_LOUDNESS_TARGET_LUFS", "-20")
    monkeypatch.setenv("ARCROOM_LOUDNESS_MAX_BOOST_DB", "6")
    monkeypatch.setenv("ARCROOM_LOUDNESS_CACHE", str(tmp_path / "clinic-loudness.json"))
    monkeypatch.setenv("ARCROOM_TALK_DUCK_DB", "-15")
    monkeypatch.setenv("ARCROOM_TALK_TIMEOUT_S", "120")
    options = music_options(Settings(_env_file=None))
    assert options.loudness == LoudnessTarget(target_lufs=-20, ceiling_dbtp=-1, max_boost_db=6)
    assert options.loudness_caches == {"clinic": tmp_path / "clinic-loudness.json"}
    assert (options.talk_duck_db, options.talk_fade_s, options.talk_restore_s) == (-15, 1.0, 3.0)
    assert options.talk_timeout_s == 120


def test_loudness_matching_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCROOM_LOUDNESS_MATCH", "false")
    assert music_options(Settings(_env_file=None)).loudness is None


@pytest.mark.parametrize(
    ("name", "value"),
    [("ARCROOM_TALK_DUCK_DB", "-1"), ("ARCROOM_TALK_DUCK_DB", "6"), ("ARCROOM_LOUDNESS_TARGET_LUFS", "0")],
)
def test_a_setting_out_of_range_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None)
    assert name.removeprefix("ARCROOM_").lower() in str(info.value)
