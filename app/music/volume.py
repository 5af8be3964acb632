"""Volume in decibels on libVLC's scale, and the gain envelope of one deck.

libVLC's volume is cubic: the amplitude is (volume_pct / 100) ** 3, so a volume is
60 * log10(volume_pct / 100) dB (20 % is about -42 dB). Ramps are planned in dB, which makes
them geometric in percent, and a track's fade (an amplitude factor g) becomes
volume_pct * g ** (1/3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DB_PER_DECADE = 60.0  # 20 * log10(x ** 3)
FLOOR_DB = -80.0  # below this the deck is simply at 0 (about 4.6 %)


def pct_to_db(pct: float) -> float:
    return -math.inf if pct <= 0 else DB_PER_DECADE * math.log10(pct / 100)


def db_to_pct(db: float) -> float:
    return 0.0 if db <= FLOOR_DB else 100 * 10 ** (db / DB_PER_DECADE)


def ramp_pct(from_pct: float, to_pct: float, u: float) -> float:
    """The volume a fraction u (0..1) of the way through a ramp that is linear in dB."""
    u = min(1.0, max(0.0, u))
    if u >= 1:
        return to_pct
    if u <= 0:
        return from_pct
    a = max(pct_to_db(from_pct), FLOOR_DB)
    b = max(pct_to_db(to_pct), FLOOR_DB)
    return db_to_pct(a + (b - a) * u)


def with_gain(volume_pct: float, gain: float) -> float:
    """A volume with an amplitude factor applied, on libVLC's cubic scale."""
    if gain <= 0 or volume_pct <= 0:
        return 0.0
    return db_to_pct(pct_to_db(volume_pct) + 20 * math.log10(min(1.0, gain)))


def deck_volume_pct(room_pct: float, fade_gain: float, gain_db: float, ceiling_pct: float) -> float:
    """A deck's volume: the room's volume, a fade's amplitude factor (0..1) and a track's gain_db combined
    in dB on libVLC's cubic scale, never above the room's ceiling."""
    if room_pct <= 0 or fade_gain <= 0:
        return 0.0
    db = pct_to_db(room_pct) + 20 * math.log10(min(1.0, fade_gain)) + gain_db
    return min(db_to_pct(db), max(0.0, ceiling_pct))


def attenuated_pct(volume_pct: float, db: float) -> float:
    """A volume turned down by `db` (0 or less) on libVLC's cubic scale: what a duck does to a deck."""
    if db >= 0 or volume_pct <= 0:
        return max(0.0, volume_pct)
    return db_to_pct(pct_to_db(volume_pct) + db)


def fade_curve(u: float) -> float:
    """Equal-power fade: amplitude sin(u * pi/2), so a crossfade keeps the loudness of uncorrelated music."""
    u = min(1.0, max(0.0, u))
    return math.sin(0.5 * math.pi * u)


@dataclass
class MasterRamp:
    """The room's volume: from `from_pct` at t0 to `to_pct` at t1, linear in dB."""

    t0: float
    from_pct: float
    t1: float
    to_pct: float

    def at(self, t: float) -> float:
        if t >= self.t1 or self.t1 <= self.t0:
            return self.to_pct
        return ramp_pct(self.from_pct, self.to_pct, (t - self.t0) / (self.t1 - self.t0))


@dataclass
class Envelope:
    """A deck's gain (amplitude 0..1): fade in from `in_from`, fade out to `end`.

    `cut` = (t0, g0, t1) replaces the fades from t0: the gain goes from g0 down to 0 at t1.
    It is how a deck leaves early (the plan changed, a pause) without any jump in level.
    """

    in_from: float
    in_s: float
    end: float
    out_s: float
    cut: tuple[float, float, float] | None = None

    def gain(self, t: float) -> float:
        if self.cut is not None and t >= self.cut[0]:
            t0, g0, t1 = self.cut
            return 0.0 if t >= t1 else g0 * fade_curve((t1 - t) / (t1 - t0))
        if t >= self.end:
            return 0.0
        g = 1.0
        if self.in_s > 0 and t < self.in_from + self.in_s:
            g *= fade_curve((t - self.in_from) / self.in_s)
        if self.out_s > 0 and t > self.end - self.out_s:
            g *= fade_curve((self.end - t) / self.out_s)
        return g

    @property
    def stops_at(self) -> float:
        return self.cut[2] if self.cut is not None else self.end

    def windows(self) -> list[tuple[float, float]]:
        """Where the gain changes."""
        if self.cut is not None:
            t0, _, t1 = self.cut
            out = [(t0, t1)]
            if self.in_s > 0 and self.in_from < t0:
                out.append((self.in_from, min(t0, self.in_from + self.in_s)))
            return out
        out = [(self.end - self.out_s, self.end)] if self.out_s > 0 else [(self.end, self.end)]
        if self.in_s > 0:
            out.append((self.in_from, self.in_from + self.in_s))
        return out

    def shifted(self, by: float) -> Envelope:
        cut = None if self.cut is None else (self.cut[0] + by, self.cut[1], self.cut[2] + by)
        return Envelope(self.in_from + by, self.in_s, self.end + by, self.out_s, cut)

    def leave(self, t: float, within_s: float) -> Envelope:
        """Fade out from the gain at t to 0 within `within_s` (or sooner, if it was ending anyway)."""
        t1 = min(self.stops_at, t + within_s)
        if t1 <= t:
            return Envelope(self.in_from, self.in_s, t, 0.0, (t, 0.0, t))
        return Envelope(self.in_from, self.in_s, self.end, self.out_s, (t, self.gain(t), t1))


@dataclass
class DuckRamp:
    """An attenuation in dB (0: none, -12: talk): from `from_db` at t0 to `to_db` at t1, linear in dB."""

    t0: float
    from_db: float
    t1: float
    to_db: float

    def at(self, t: float) -> float:
        if t >= self.t1 or self.t1 <= self.t0:
            return self.to_db
        if t <= self.t0:
            return self.from_db
        return self.from_db + (self.to_db - self.from_db) * (t - self.t0) / (self.t1 - self.t0)
