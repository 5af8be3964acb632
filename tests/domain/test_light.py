"""Unit conversions at their edges, perceptual fades, and report matching."""

from __future__ import annotations

import pytest

from app.domain.light import (
    Fade,
    LightState,
    TransitionUnit,
    clamp_kelvin,
    interpolate,
    kelvin_to_mired,
    longest_native,
    matches,
    mired_to_kelvin,
    native_seconds,
    pct_to_scale,
    scale_to_pct,
    transition_fits,
    transition_value,
)


@pytest.mark.parametrize(
    ("pct", "maximum", "value"),
    [
        (0, 254, 0),
        (100, 254, 254),
        (50, 254, 127),
        (0.2, 254, 1),
        (100, 255, 255),
        (40, 100, 40),
        (-5, 255, 0),
        (120, 255, 255),
        (100, 1023, 1023),
    ],
)
def test_percent_onto_device_scales(pct: float, maximum: int, value: int) -> None:
    assert pct_to_scale(pct, maximum) == value


def test_device_scales_back_to_percent_are_clamped() -> None:
    assert scale_to_pct(254, 254) == 100 and scale_to_pct(0, 255) == 0
    assert scale_to_pct(300, 255) == 100 and scale_to_pct(-1, 255) == 0


@pytest.mark.parametrize(("kelvin", "mired"), [(2000, 500), (2700, 370), (4000, 250), (6500, 154), (6535, 153)])
def test_kelvin_and_mireds(kelvin: int, mired: int) -> None:
    assert kelvin_to_mired(kelvin) == mired
    assert abs(mired_to_kelvin(mired) - kelvin) <= 15


def test_kelvin_is_clamped_to_the_device_range_in_its_own_unit() -> None:
    assert clamp_kelvin(1800, "mired", 153, 500) == 2000  # warmer than the device: its warmest
    assert clamp_kelvin(9000, "mired", 153, 500) == mired_to_kelvin(153)
    assert clamp_kelvin(2200, "kelvin", 2700, 6500) == 2700
    assert clamp_kelvin(3000, "kelvin", 2700, 6500) == 3000


@pytest.mark.parametrize(
    ("seconds", "unit", "value"),
    [
        (2.5, "seconds", 2.5),
        (0, "seconds", 0),
        (2.4, "whole_seconds", 2),
        (3, "tenths", 30),
        (0.05, "tenths", 0),
        (1.5, "milliseconds", 1500),
        (2, "tasmota_speed", 4),
    ],
)
def test_transition_units(seconds: float, unit: str, value: float) -> None:
    assert transition_value(seconds, unit) == value  # type: ignore[arg-type]


def test_tasmota_speed_scales_with_the_size_of_the_change() -> None:
    # Speed is half-seconds per full 0-100 % change: 2 s over a 25 % change needs Speed 16.
    assert transition_value(2, "tasmota_speed", change_pct=25) == 16
    assert transition_fits(2, "tasmota_speed", 20, change_pct=25)
    assert not transition_fits(10, "tasmota_speed", 20, change_pct=10)  # would need Speed 200 > 40


def test_what_fits_natively() -> None:
    assert transition_fits(300, "seconds", 600)
    assert not transition_fits(900, "seconds", 600)
    assert transition_fits(3, "whole_seconds", 3600)
    # ESPHome takes whole seconds: a fraction is rounded (what is left of a fade after a restart)
    assert transition_fits(55.6, "whole_seconds", 3600) and native_seconds(55.6, "whole_seconds") == 56
    assert not transition_fits(3600.6, "whole_seconds", 3600)
    assert native_seconds(55.6, "seconds") == 55.6


def test_interpolation_is_even_to_the_eye_not_in_percent() -> None:
    dark, bright = LightState(on=True, brightness_pct=1), LightState(on=True, brightness_pct=100)
    mid = interpolate(dark, bright, 0.5)
    assert mid.brightness_pct is not None and 15 < mid.brightness_pct < 30  # L* midpoint ~ 20 %, not 50 %
    levels = [interpolate(dark, bright, f / 10).level_pct for f in range(11)]
    assert levels == sorted(levels) and levels[0] == 1 and levels[-1] == 100


def test_interpolation_of_colour_temperature_runs_in_mireds() -> None:
    warm, cool = (
        LightState(on=True, brightness_pct=50, kelvin=2000),
        LightState(on=True, brightness_pct=50, kelvin=5000),
    )
    assert interpolate(warm, cool, 0.5).kelvin == mired_to_kelvin((500 + 200) / 2)


def test_fading_to_off_ends_off_and_fading_up_from_off_turns_on() -> None:
    on, off = LightState(on=True, brightness_pct=40), LightState(on=False)
    assert interpolate(on, off, 1.0) == off
    assert interpolate(on, off, 0.5).on
    assert interpolate(off, on, 0.01).on


def test_fade_position_over_time() -> None:
    fade = Fade(
        LightState(on=True, brightness_pct=10), LightState(on=True, brightness_pct=80), 100.0, 60.0, native=False
    )
    assert fade.at(100.0).brightness_pct == 10
    assert fade.at(160.0).brightness_pct == 80 and fade.done(160.0)
    assert fade.ends_at == 160.0


def test_reports_match_commands_within_tolerance() -> None:
    cmd = LightState(on=True, brightness_pct=40, kelvin=2700)
    assert matches(cmd, LightState(on=True, brightness_pct=40.2, kelvin=2703))
    assert matches(cmd, LightState(on=True, brightness_pct=40))  # a device that does not report kelvin
    assert not matches(cmd, LightState(on=True, brightness_pct=45))
    assert not matches(cmd, LightState(on=False))
    assert matches(LightState(on=False), LightState(on=False, brightness_pct=70))


@pytest.mark.parametrize(
    ("seconds", "unit", "max_s", "glide"),
    [
        (300, "seconds", 600, 300),  # Zigbee2MQTT: the whole fade
        (300, "milliseconds", 5, 5),  # Shelly Gen1: as much as it can
        (7.6, "whole_seconds", 3600, 7),  # ESPHome takes whole seconds only
        (300, "tasmota_speed", 20, 20),  # Speed 40 on a full change
        (0, "seconds", 600, 0),  # the panic: at once
    ],
)
def test_a_light_whose_level_is_unknown_glides_as_long_as_it_can_by_itself(
    seconds: float, unit: TransitionUnit, max_s: float, glide: float
) -> None:
    assert longest_native(seconds, unit, max_s) == glide
    assert glide == 0 or transition_fits(glide, unit, max_s)
