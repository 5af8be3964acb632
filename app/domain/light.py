"""Abstract light state, the unit conversions every device dialect needs, and fade arithmetic.

All conversions live here so each one is tested at its edges once; device profiles only say
which unit and scale a device uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TransitionUnit = Literal["seconds", "whole_seconds", "tenths", "milliseconds", "tasmota_speed"]
TemperatureUnit = Literal["mired", "kelvin"]

# Tolerances for "the light reports what we commanded": one step of the coarsest scale
# (0-100) plus rounding, and a few mireds at the warm end.
BRIGHTNESS_TOLERANCE_PCT = 2.0
KELVIN_TOLERANCE = 100


class LightState(BaseModel):
    """What a light should do (or reports doing). None means "not specified / not reported"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    on: bool
    brightness_pct: float | None = Field(default=None, ge=0, le=100)
    kelvin: int | None = Field(default=None, ge=1000, le=10000)
    rgb: tuple[int, int, int] | None = None

    @model_validator(mode="after")
    def _rgb_range(self) -> LightState:
        if self.rgb is not None and not all(0 <= c <= 255 for c in self.rgb):
            raise ValueError("rgb components must be 0-255")
        return self

    @property
    def level_pct(self) -> float:
        """Light output as a percentage: 0 when off."""
        if not self.on:
            return 0.0
        return 100.0 if self.brightness_pct is None else self.brightness_pct


OFF = LightState(on=False)


# --- scales -------------------------------------------------------------------------------


def pct_to_scale(pct: float, maximum: int) -> int:
    """0-100 % onto 0..maximum (254 for Zigbee, 255 for 8-bit, 100 for percent devices)."""
    return round(max(0.0, min(100.0, pct)) / 100 * maximum)


def scale_to_pct(value: float, maximum: int) -> float:
    return max(0.0, min(100.0, value / maximum * 100))


def kelvin_to_mired(kelvin: float) -> int:
    return round(1_000_000 / kelvin)


def mired_to_kelvin(mired: float) -> int:
    return round(1_000_000 / mired)


def clamp_kelvin(kelvin: int, unit: TemperatureUnit, low: int, high: int) -> int:
    """Clamp a colour temperature to a device's range given in its own unit."""
    if unit == "mired":
        return mired_to_kelvin(max(low, min(high, kelvin_to_mired(kelvin))))
    return max(low, min(high, kelvin))


def transition_value(seconds: float, unit: TransitionUnit, change_pct: float = 100.0) -> float | int:
    """A transition in the device's unit. Tasmota's Speed is half-seconds per full 0-100 % change,
    so the same duration needs a larger Speed for a smaller change."""
    seconds = max(0.0, seconds)
    match unit:
        case "seconds":
            return round(seconds, 1)
        case "whole_seconds":
            return round(seconds)  # ESPHome rejects fractions
        case "tenths":
            return round(seconds * 10)
        case "milliseconds":
            return round(seconds * 1000)
        case "tasmota_speed":
            fraction = max(change_pct, 1.0) / 100
            return max(1, round(seconds / 0.5 / fraction))


def transition_fits(seconds: float, unit: TransitionUnit, max_s: float, change_pct: float = 100.0) -> bool:
    """Can the device do this fade natively in one command?"""
    if unit == "tasmota_speed":
        return transition_value(seconds, unit, change_pct) <= 40
    # Whole seconds (ESPHome): rounded, at most half a second off the plan. Refusing a fraction
    # would step a fade resumed after a restart from the device's reported *target* (ESPHome
    # reports where a transition goes, not where it is), a jump in the dark.
    return native_seconds(seconds, unit) <= max_s


def native_seconds(seconds: float, unit: TransitionUnit) -> float:
    """How long the device will really take for a transition asked of `seconds`."""
    return float(round(seconds)) if unit == "whole_seconds" else seconds


def longest_native(seconds: float, unit: TransitionUnit, max_s: float) -> float:
    """The longest part of a `seconds` fade the device can do by itself in one command, for a
    full 0-100 % change (used when where the light starts from is unknown)."""
    fit = min(max(0.0, seconds), max_s)
    if unit == "whole_seconds" or not transition_fits(fit, unit, max_s):
        fit = float(math.floor(fit))
        while fit > 0 and not transition_fits(fit, unit, max_s):
            fit -= 1.0  # Tasmota's Speed tops out before max_s on a full change
    return fit


# --- perceptually even fades ----------------------------------------------------------------
# Brightness commands are roughly linear in luminance, but the eye is not: a fade that is linear
# in percent races through the dark end. Interpolating CIE 1976 lightness L* looks even.


def _pct_to_lightness(pct: float) -> float:
    y = pct / 100
    return 116 * y ** (1 / 3) - 16 if y > 0.008856 else 903.3 * y


def _lightness_to_pct(lightness: float) -> float:
    y = ((lightness + 16) / 116) ** 3 if lightness > 8 else lightness / 903.3
    return max(0.0, min(100.0, y * 100))


def interpolate(start: LightState, end: LightState, fraction: float) -> LightState:
    """The point `fraction` (0..1) of the way from start to end, even to the eye."""
    f = max(0.0, min(1.0, fraction))
    if f >= 1.0:
        return end
    a, b = start.level_pct, end.level_pct
    level = _lightness_to_pct(_pct_to_lightness(a) + (_pct_to_lightness(b) - _pct_to_lightness(a)) * f)
    kelvin = end.kelvin
    if start.kelvin and end.kelvin:
        # Colour temperature is perceived evenly in mireds, not kelvin.
        ma, mb = kelvin_to_mired(start.kelvin), kelvin_to_mired(end.kelvin)
        kelvin = mired_to_kelvin(ma + (mb - ma) * f)
    rgb = end.rgb
    if start.rgb and end.rgb:
        r, g, b = (round(x + (y - x) * f) for x, y in zip(start.rgb, end.rgb, strict=True))
        rgb = (r, g, b)
    on = level > 0 or (end.on and f > 0)
    return LightState(on=on, brightness_pct=round(level, 2), kelvin=kelvin if kelvin else start.kelvin, rgb=rgb)


def matches(commanded: LightState, reported: LightState) -> bool:
    """Does the report agree with the command, within the tolerance of the devices' scales?"""
    if commanded.on != reported.on:
        return False
    if not commanded.on:
        return True
    if (
        commanded.brightness_pct is not None
        and reported.brightness_pct is not None
        and abs(commanded.brightness_pct - reported.brightness_pct) > BRIGHTNESS_TOLERANCE_PCT
    ):
        return False
    return not (
        commanded.kelvin is not None
        and reported.kelvin is not None
        and abs(commanded.kelvin - reported.kelvin) > KELVIN_TOLERANCE
    )


def merge(base: LightState | None, update: dict[str, object]) -> LightState:
    """Apply a partial report onto what was known: fields absent from a report keep their value."""
    return LightState.model_validate({**(base or OFF).model_dump(), **update})


@dataclass(frozen=True)
class Fade:
    """A change from `start` to `target` over [started_at, started_at + duration_s]."""

    start: LightState
    target: LightState
    started_at: float
    duration_s: float
    native: bool

    @property
    def ends_at(self) -> float:
        return self.started_at + self.duration_s

    def at(self, now: float) -> LightState:
        if self.duration_s <= 0:
            return self.target
        return interpolate(self.start, self.target, (now - self.started_at) / self.duration_s)

    def done(self, now: float) -> bool:
        return now >= self.ends_at
