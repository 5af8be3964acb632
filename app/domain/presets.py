"""Substance presets: the expected arc of a session, as validated data."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Name = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)


class _Strict(BaseModel):
    # Preset files are written by hand: a misspelt key must fail loudly, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Phase(_Strict):
    """One phase of the arc; `duration_min` None means open-ended (ends by a therapist's action)."""

    name: str = Name
    duration_min: float | None = Field(default=None, gt=0, le=24 * 60)
    scene: str = Name
    music: str = Name
    description: str = ""


class CueRule(_Strict):
    """A reminder for the facilitators, at fixed offsets and/or at a repeating interval."""

    id: str = Name
    label: str = Field(min_length=1, max_length=120)
    kind: Literal["vitals", "blood_pressure", "hydration", "booster_offer", "check_in"]
    # "start" counts from the session's start (e.g. a pre-dose check), "dose" from the first dose.
    anchor: Literal["start", "dose"] = "dose"
    at_min: tuple[float, ...] = ()
    every_min: float | None = Field(default=None, gt=0)
    from_min: float = Field(default=0, ge=0)
    # None: repeat until the session ends.
    until_min: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _has_a_time(self) -> CueRule:
        if not self.at_min and self.every_min is None:
            raise ValueError("a cue needs at_min, every_min or both")
        if any(t < 0 for t in self.at_min):
            raise ValueError("at_min offsets must be >= 0")
        return self


class Booster(_Strict):
    """An optional supplemental dose and how it lengthens the arc."""

    offer_from_min: float = Field(ge=0)
    offer_until_min: float = Field(gt=0)
    extends_phase: str = Name
    extend_min: float = Field(gt=0, le=6 * 60)
    max_count: int = Field(default=1, ge=1, le=3)
    note: str = ""

    @model_validator(mode="after")
    def _window(self) -> Booster:
        if self.offer_until_min <= self.offer_from_min:
            raise ValueError("offer_until_min must be after offer_from_min")
        return self


class Preset(_Strict):
    id: str = Name
    name: str = Field(min_length=1)
    substance: str = Field(min_length=1)
    route: str = Field(min_length=1)
    dose_note: str = ""
    source: str = Field(min_length=1, description="Where the timings come from")
    min_observation_min: float = Field(ge=0, description="Minimum time from first dose to end")
    phases: list[Phase] = Field(min_length=3)
    booster: Booster | None = None
    cues: tuple[CueRule, ...] = ()

    @model_validator(mode="after")
    def _arc_shape(self) -> Preset:
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise ValueError(f"phase names must be unique, got {names}")
        first, last = self.phases[0], self.phases[-1]
        if first.name != "arrival" or first.duration_min is not None:
            raise ValueError("the first phase must be 'arrival' and open-ended (no duration_min)")
        if last.name != "closing" or last.duration_min is not None:
            raise ValueError("the last phase must be 'closing' and open-ended (no duration_min)")
        for phase in self.phases[1:-1]:
            if phase.duration_min is None:
                raise ValueError(f"phase {phase.name!r} needs duration_min: only arrival and closing are open-ended")
        if self.booster and self.booster.extends_phase not in names[1:-1]:
            raise ValueError(
                f"booster.extends_phase {self.booster.extends_phase!r} is not a timed phase of this preset"
            )
        ids = [c.id for c in self.cues]
        if len(set(ids)) != len(ids):
            raise ValueError(f"cue ids must be unique, got {ids}")
        return self

    def phase_index(self, name: str) -> int:
        return [p.name for p in self.phases].index(name)

    @property
    def nominal_arc_min(self) -> float:
        """Length of the timed phases, dose to closing."""
        return sum(p.duration_min or 0 for p in self.phases)
