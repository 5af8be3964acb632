"""Loudness matching: the gain that brings a track to one target loudness without clipping.

Measurements follow EBU R128 / ITU-R BS.1770: integrated loudness in LUFS (LU = a difference
of LUFS) and true peak in dBTP (the peak of the reconstructed signal, not just of the samples).

The default target is -18 LUFS, for a multi-hour classical and ambient set on headphones:
- it is ReplayGain 2.0's reference level, so a file's ReplayGain track gain is the gain this
  module computes (before the peak limit), and clinics' tagged libraries agree with it;
- it sits below most commercial masters (pop and film music about -14 to -8 LUFS), which are
  turned down, and close to quiet classical recordings (about -20 to -26 LUFS), which need a
  few dB up: the peak limit then rarely has to leave a track short of the target. Music
  Assistant's -17 LUFS would do as well; EBU broadcast's -23 LUFS would match even more tracks
  exactly but leave the whole set 5 dB quieter at a given volume, which headphone amplifiers
  and the room's volume ceiling may not make up.
- The ceiling is -1 dBTP (EBU R128's maximum for delivery): after the gain, a track's true
  peak stays at or below it, so lossy decoding and resampling never clip.
- A boost is capped at +12 dB: a quiet, noisy recording is not pushed up into its own hiss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

DEFAULT_TARGET_LUFS = -18.0
DEFAULT_CEILING_DBTP = -1.0
DEFAULT_MAX_BOOST_DB = 12.0
SILENCE_LUFS = -70.0  # BS.1770's absolute gate: nothing louder was measured
REPLAYGAIN_REFERENCE_LUFS = -18.0  # ReplayGain 2.0
# A ReplayGain peak is a sample peak, and the true peak between samples can be higher (more so for lossy
# files), so a peak read from tags is taken as this much higher: our margin, not a standard's figure.
REPLAYGAIN_PEAK_MARGIN_DB = 1.0

Source = Literal["ebur128", "replaygain"]


@dataclass(frozen=True)
class TrackLoudness:
    integrated_lufs: float
    true_peak_dbtp: float  # -inf for digital silence
    source: Source = "ebur128"


@dataclass(frozen=True)
class LoudnessTarget:
    target_lufs: float = DEFAULT_TARGET_LUFS
    ceiling_dbtp: float = DEFAULT_CEILING_DBTP
    max_boost_db: float = DEFAULT_MAX_BOOST_DB

    def __post_init__(self) -> None:
        if not -40 <= self.target_lufs <= -5:
            raise ValueError(f"target loudness {self.target_lufs} LUFS is outside -40..-5 LUFS")
        if not -20 <= self.ceiling_dbtp <= 0:
            raise ValueError(f"true-peak ceiling {self.ceiling_dbtp} dBTP is outside -20..0 dBTP")
        if not 0 <= self.max_boost_db <= 30:
            raise ValueError(f"maximum boost {self.max_boost_db} dB is outside 0..30 dB")


def gain_db(loudness: TrackLoudness, target: LoudnessTarget | None = None) -> float:
    """The gain toward the target, limited so the true peak after it stays at or below the ceiling (0.01 dB)."""
    target = target or LoudnessTarget()
    headroom = target.ceiling_dbtp - loudness.true_peak_dbtp
    if loudness.integrated_lufs <= SILENCE_LUFS:
        wanted = 0.0  # silence: nothing to match
    else:
        wanted = min(target.target_lufs - loudness.integrated_lufs, target.max_boost_db)
    # Round down so rounding never takes the peak over the ceiling.
    return math.floor(min(wanted, headroom) * 100) / 100


def after_gain_lufs(loudness: TrackLoudness, target: LoudnessTarget | None = None) -> float:
    """The integrated loudness the track will have with its gain."""
    return loudness.integrated_lufs + gain_db(loudness, target)


def from_replaygain(track_gain_db: float, track_peak: float) -> TrackLoudness:
    """A file's ReplayGain 2.0 track gain and (linear, sample) peak as a loudness measurement."""
    peak_db = -math.inf if track_peak <= 0 else 20 * math.log10(track_peak)
    return TrackLoudness(REPLAYGAIN_REFERENCE_LUFS - track_gain_db, peak_db + REPLAYGAIN_PEAK_MARGIN_DB, "replaygain")


def largest_jump(levels: Sequence[float | None]) -> tuple[float, int] | None:
    """The largest difference (LU) between neighbours that were both measured, and the index of the first."""
    best: tuple[float, int] | None = None
    for i in range(len(levels) - 1):
        a, b = levels[i], levels[i + 1]
        if a is None or b is None:
            continue
        jump = abs(b - a)
        if best is None or jump > best[0] + 1e-9:
            best = (jump, i)
    return best
