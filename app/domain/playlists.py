"""Playlists: music for each phase of an arc, as validated data (`playlists/*.yaml`).

A playlist names the presets it suits and has one segment per `music` name those presets use.
Track paths are relative to a music library directory (`library: demo` for the generated demo
music, `library: clinic` for the clinic's own files); a path with `://` is a URL and is used
as it is.

A track's `join` says how it follows the track before it in its segment: `crossfade` (the
default) or `gapless`, for movements written to run into each other (it starts exactly where
the one before ends, with no fades). A track and the tracks joined gaplessly after it make one
*piece*. A track may carry an `intensity` (1 calm .. 5 intense) for "gentler" steering.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Collection, Mapping
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.domain.presets import Preset

Name = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


class _Strict(BaseModel):
    # Written by hand: a misspelt key must fail loudly, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_duration(value: object) -> float:
    """Seconds from a number of seconds or a "m:ss" / "h:mm:ss" string."""
    if isinstance(value, bool):
        raise ValueError("a duration is seconds or 'm:ss' / 'h:mm:ss'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if (m := _CLOCK.match(text)) is not None:
            hours, minutes, secs = m.groups()
            if hours is not None and int(minutes) >= 60:
                raise ValueError(f"minutes must be below 60 in {value!r}")
            if float(secs) >= 60:
                raise ValueError(f"seconds must be below 60 in {value!r}")
            seconds = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
        else:
            try:
                seconds = float(text)
            except ValueError:
                raise ValueError(f"{value!r} is not seconds, 'm:ss' or 'h:mm:ss'") from None
    else:
        raise ValueError("a duration is seconds or 'm:ss' / 'h:mm:ss'")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("a duration must be more than 0 s")
    return seconds


def format_duration(seconds: float) -> str:
    """ "m:ss" or "h:mm:ss", rounded to the second."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Track(_Strict):
    path: str = Field(min_length=1, description="Relative to the playlist's library directory, or a URL")
    title: str = Field(min_length=1)
    artist: str = Field(min_length=1)
    duration_s: float = Field(description="Declared length: seconds, 'm:ss' or 'h:mm:ss'")
    join: Literal["crossfade", "gapless"] = Field(
        default="crossfade", description="How it follows the track before it in the segment"
    )
    intensity: int | None = Field(default=None, ge=1, le=5, description="1 calm .. 5 intense; for gentler steering")

    @field_validator("duration_s", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if "://" in value:
            return value
        pure = PurePosixPath(value)
        if pure.is_absolute() or value.startswith("\\") or re.match(r"^[A-Za-z]:", value):
            raise ValueError("must be relative to the music library directory (or a URL)")
        if ".." in pure.parts:
            raise ValueError("must stay inside the music library directory (no '..')")
        return value

    @property
    def is_url(self) -> bool:
        return "://" in self.path


class Segment(_Strict):
    """The music for one phase, in order."""

    tracks: list[Track] = Field(min_length=1)
    # When the phase outlasts the music: play the segment again, or go on into the next
    # phase's segment (those tracks are then not played again when that phase begins).
    overrun: Literal["loop", "continue"] = "loop"
    # When the phase ends before the music: let the sounding track finish, or crossfade
    # into the next phase's music over `phase_end_crossfade_s`.
    on_phase_end: Literal["finish", "crossfade"] = "crossfade"
    phase_end_crossfade_s: float = Field(default=20.0, ge=0, le=120)
    crossfade_s: float | None = Field(default=None, ge=0, le=30, description="None: the playlist's")

    @field_validator("tracks")
    @classmethod
    def _first_joins_nothing(cls, value: list[Track]) -> list[Track]:
        if value and value[0].join == "gapless":
            raise ValueError(
                "the first track of a segment cannot be `join: gapless`: no track comes before it "
                "in the segment (put the movements it follows in the same segment)"
            )
        return value

    @property
    def total_s(self) -> float:
        return sum(t.duration_s for t in self.tracks)

    def piece_end(self, i: int) -> int:
        """One past the last track of the piece that starts at track i (i and the tracks joined gaplessly after it)."""
        j = i + 1
        while j < len(self.tracks) and self.tracks[j].join == "gapless":
            j += 1
        return j

    def piece_intensity(self, i: int) -> int | None:
        """The highest intensity among the tracks of the piece starting at i (None: none tagged)."""
        tags = [t.intensity for t in self.tracks[i : self.piece_end(i)] if t.intensity is not None]
        return max(tags) if tags else None

    @property
    def median_intensity(self) -> float | None:
        """The median of the tagged pieces' intensities (None: no track is tagged)."""
        tags = []
        i = 0
        while i < len(self.tracks):
            if (tag := self.piece_intensity(i)) is not None:
                tags.append(tag)
            i = self.piece_end(i)
        return float(statistics.median(tags)) if tags else None


class Playlist(_Strict):
    id: str = Name
    title: str = Field(min_length=1)
    curator: str = Field(min_length=1)
    source: str = Field(min_length=1, description="Where the structure (titles, order, durations) comes from")
    presets: list[str] = Field(min_length=1)
    library: Literal["demo", "clinic"]
    crossfade_s: float = Field(default=8.0, ge=0, le=30)
    segments: dict[str, Segment] = Field(min_length=1)

    @field_validator("segments")
    @classmethod
    def _segment_names(cls, value: dict[str, Segment]) -> dict[str, Segment]:
        for name in value:
            if not re.match(r"^[a-z][a-z0-9_]*$", name):
                raise ValueError(f"segment name {name!r} must be lower_snake_case, like a preset's music names")
        return value

    @model_validator(mode="after")
    def _unique_presets(self) -> Playlist:
        if len(set(self.presets)) != len(self.presets):
            raise ValueError(f"presets must be unique, got {self.presets}")
        return self

    def crossfade_for(self, segment: str) -> float:
        own = self.segments[segment].crossfade_s
        return self.crossfade_s if own is None else own


def check_against_presets(playlists: Mapping[str, Playlist], presets: Mapping[str, Preset]) -> list[str]:
    """Problems: a preset a playlist names that does not exist, or a `music` name it has no segment for."""
    problems: list[str] = []
    for playlist in playlists.values():
        for preset_id in playlist.presets:
            preset = presets.get(preset_id)
            if preset is None:
                problems.append(
                    f"playlist {playlist.id!r}: presets: no preset {preset_id!r} "
                    f"(have: {', '.join(sorted(presets)) or 'none'})"
                )
                continue
            for phase in preset.phases:
                if phase.music not in playlist.segments:
                    problems.append(
                        f"playlist {playlist.id!r}: no segment {phase.music!r}, which preset "
                        f"{preset_id!r} plays in phase {phase.name!r}"
                    )
    return problems


def default_candidates(preset_id: str, playlists: Mapping[str, Playlist], libraries: Collection[str]) -> list[Playlist]:
    """The playlists a preset may play by default, best first: the clinic's (its library configured),
    then the demo's. Whether their files are there is the caller's to check (app/music/availability.py)."""
    suited = [p for p in playlists.values() if preset_id in p.presets and p.library in libraries]
    suited.sort(key=lambda p: (p.library == "demo", p.id))
    return suited
