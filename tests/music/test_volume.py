"""Volumes in dB on libVLC's cubic scale, and a deck's fade envelope."""

from __future__ import annotations

import math

import pytest

from app.music.volume import (
    Envelope,
    MasterRamp,
    db_to_pct,
    deck_volume_pct,
    fade_curve,
    pct_to_db,
    ramp_pct,
    with_gain,
)


def test_libvlc_volume_is_cubic_in_amplitude() -> None:
    # audio.md: a 0.5-amplitude tone gave RMS 11 600 at 100 % and 93 at 20 %: -41.9 dB.
    assert pct_to_db(20) == pytest.approx(20 * math.log10(93 / 11_600), abs=0.2)
    assert pct_to_db(100) == 0 and pct_to_db(0) == -math.inf
    assert db_to_pct(pct_to_db(37)) == pytest.approx(37)
    assert db_to_pct(-200) == 0


def test_a_ramp_is_linear_in_db() -> None:
    assert ramp_pct(60, 20, 0.5) == pytest.approx(math.sqrt(60 * 20))  # geometric in percent
    assert ramp_pct(60, 20, 0) == 60 and ramp_pct(60, 20, 1) == 20 and ramp_pct(60, 20, 7) == 20
    # From silence: from the -80 dB floor, so half-way is -49 dB (15 %), then 50 % (-18 dB).
    assert [round(ramp_pct(0, 50, u)) for u in (0, 0.5, 1)] == [0, 15, 50]


def test_a_gain_is_applied_on_the_cubic_scale() -> None:
    assert with_gain(60, 1) == pytest.approx(60)
    assert with_gain(60, 0.5) == pytest.approx(60 * 0.5 ** (1 / 3))  # -6 dB
    assert with_gain(60, 0) == 0 and with_gain(0, 1) == 0


def test_equal_power_fades_keep_the_loudness_of_a_crossfade() -> None:
    for u in (0, 0.2, 0.5, 0.9, 1):
        assert fade_curve(u) ** 2 + fade_curve(1 - u) ** 2 == pytest.approx(1)


def test_the_room_volume_ramps_from_where_it_is() -> None:
    ramp = MasterRamp(t0=10, from_pct=60, t1=12, to_pct=20)
    assert (ramp.at(9), ramp.at(10), ramp.at(12), ramp.at(99)) == (60, 60, 20, 20)
    assert ramp.at(11) == pytest.approx(math.sqrt(1200))


def test_an_envelope_fades_in_and_out_and_leaves_without_a_jump() -> None:
    env = Envelope(in_from=0, in_s=4, end=100, out_s=8)
    assert (env.gain(0), env.gain(2), env.gain(50), env.gain(96), env.gain(100)) == pytest.approx(
        (0, math.sin(math.pi / 4), 1, math.sin(math.pi / 4), 0)
    )
    early = env.leave(1, 3)  # mid fade-in: goes down from where it is
    assert early.gain(1) == pytest.approx(env.gain(1)) and early.gain(2.5) < env.gain(1) and early.gain(4) == 0
    assert early.stops_at == 4
    late = env.leave(97, 10)  # already ending sooner: keeps its own end
    assert late.stops_at == 100 and late.gain(97) == pytest.approx(env.gain(97))
    moved = env.shifted(50)
    assert moved.gain(52) == pytest.approx(env.gain(2)) and moved.end == 150


def test_a_deck_volume_combines_room_volume_fade_and_track_gain_in_db_under_the_ceiling() -> None:
    assert deck_volume_pct(60, 1, 0, 80) == pytest.approx(60)
    # -6 dB of track gain is -6 dB on the cubic scale: 60 % * 10 ** (-6 / 60).
    assert deck_volume_pct(60, 1, -6, 80) == pytest.approx(60 * 10 ** (-6 / 60))
    assert pct_to_db(deck_volume_pct(60, 0.5, -3, 80)) == pytest.approx(pct_to_db(60) - 6.02 - 3, abs=0.01)
    # A boost goes above the room volume, but never above the room's ceiling.
    assert deck_volume_pct(60, 1, 6, 80) == pytest.approx(60 * 10 ** (6 / 60))
    assert deck_volume_pct(60, 1, 12, 80) == 80 and deck_volume_pct(60, 1, 12, 70) == 70
    assert deck_volume_pct(0, 1, 6, 80) == 0 and deck_volume_pct(60, 0, 6, 80) == 0
    assert deck_volume_pct(60, 1, -200, 80) == 0  # below the -80 dB floor: off
