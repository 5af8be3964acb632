"""The gain toward the loudness target: reaches it where it can, never clips, never boosts without bound."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.loudness import (
    DEFAULT_CEILING_DBTP,
    DEFAULT_TARGET_LUFS,
    LoudnessTarget,
    TrackLoudness,
    after_gain_lufs,
    from_replaygain,
    gain_db,
    largest_jump,
)


def test_the_defaults_are_minus_18_lufs_under_a_minus_1_dbtp_ceiling() -> None:
    assert (DEFAULT_TARGET_LUFS, DEFAULT_CEILING_DBTP) == (-18, -1)
    assert LoudnessTarget() == LoudnessTarget(-18, -1, 12)


def test_a_loud_track_is_turned_down_to_the_target_and_a_quiet_one_up() -> None:
    assert gain_db(TrackLoudness(-9.5, -0.2)) == -8.5  # a loud master
    assert gain_db(TrackLoudness(-24.0, -10.0)) == 6.0  # quiet classical with headroom
    assert after_gain_lufs(TrackLoudness(-24.0, -10.0)) == -18.0


def test_a_boost_stops_where_the_true_peak_would_pass_the_ceiling() -> None:
    # Wants +10 dB, but its peaks are at -4 dBTP: only +3 dB, and it stays 7 LU short of the target.
    peaky = TrackLoudness(-28.0, -4.0)
    assert gain_db(peaky) == 3.0 and after_gain_lufs(peaky) == -25.0
    # A peak already over the ceiling is brought under it even if that leaves the track quieter.
    assert gain_db(TrackLoudness(-20.0, 0.5)) == -1.5


def test_a_boost_is_capped_and_silence_is_left_alone() -> None:
    assert gain_db(TrackLoudness(-40.0, -30.0)) == 12.0
    assert gain_db(TrackLoudness(-40.0, -30.0), LoudnessTarget(max_boost_db=6)) == 6.0
    assert gain_db(TrackLoudness(-70.0, -math.inf)) == 0.0
    assert gain_db(TrackLoudness(-70.0, 2.0)) == -3.0  # silence with one loud click: still under the ceiling


def test_the_target_is_configurable_and_checked() -> None:
    assert gain_db(TrackLoudness(-20.0, -10.0), LoudnessTarget(target_lufs=-23)) == -3.0
    with pytest.raises(ValueError, match=r"outside -40\.\.-5 LUFS"):
        LoudnessTarget(target_lufs=3)
    with pytest.raises(ValueError, match="dBTP is outside"):
        LoudnessTarget(ceiling_dbtp=1)


@given(lufs=st.floats(-80, 0), peak=st.floats(-80, 3), target=st.floats(-30, -10), ceiling=st.floats(-3, 0))
def test_the_gain_never_clips_never_overshoots_and_never_boosts_past_the_cap(
    lufs: float, peak: float, target: float, ceiling: float
) -> None:
    policy = LoudnessTarget(target_lufs=target, ceiling_dbtp=ceiling)
    gain = gain_db(TrackLoudness(lufs, peak), policy)
    assert peak + gain <= ceiling + 1e-9
    assert gain <= policy.max_boost_db
    if lufs > -70:
        assert lufs + gain <= target + 1e-9  # never louder than the target
        if peak + (target - lufs) <= ceiling and target - lufs <= policy.max_boost_db:
            assert lufs + gain == pytest.approx(target, abs=0.011)  # reached when nothing stops it


def test_replaygain_tags_read_as_a_measurement_with_a_peak_margin() -> None:
    tagged = from_replaygain(-4.5, 0.5)  # RG 2.0: -18 LUFS reference; the peak is a sample peak (-6.02 dBFS)
    assert tagged.integrated_lufs == -13.5 and tagged.source == "replaygain"
    assert tagged.true_peak_dbtp == pytest.approx(-6.02 + 1.0, abs=0.01)
    assert gain_db(tagged) == -4.5


def test_the_largest_jump_is_between_measured_neighbours() -> None:
    assert largest_jump([-20, -8, -9, None, -30]) == (12, 0)
    assert largest_jump([-20, None, -30]) is None
    assert largest_jump([-18.0]) is None
