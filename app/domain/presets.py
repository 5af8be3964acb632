"""Substance presets: the expected arc of a session, as validated data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.domain.errors import NotFound
from app.domain.readings import FIELDS, NUMERIC_FIELDS, YES_NO_FIELDS, FieldName

Name = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
# "hydration" is the older name of "fluids", kept so that sessions stored with it still load.
CueKind = Literal["vitals", "blood_pressure", "monitoring", "fluids", "hydration", "booster_offer", "check_in"]


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
    kind: CueKind
    # "start" counts from the session's start (e.g. a pre-dose check), "dose" from the first dose.
    anchor: Literal["start", "dose"] = "dose"
    # Or from a phase's start, as it happens (or as planned while it is to come): a check-in "at the
    # start of the peak" moves with the peak when a phase is advanced or extended, or the arc held.
    phase: str | None = None
    at_min: tuple[float, ...] = ()
    every_min: float | None = Field(default=None, gt=0)
    from_min: float = Field(default=0, ge=0)
    # None: repeat until the session ends.
    until_min: float | None = Field(default=None, gt=0)
    # A cue that falls only while the latest reading of one of these fields, taken before it is
    # due, was above its limit (e.g. blood pressure "as clinically warranted until values settle").
    while_above: dict[FieldName, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_a_time(self) -> CueRule:
        if not self.at_min and self.every_min is None:
            raise ValueError("a cue needs at_min, every_min or both")
        if any(t < 0 for t in self.at_min):
            raise ValueError("at_min offsets must be >= 0")
        if not_numbers := [f for f in self.while_above if f not in NUMERIC_FIELDS]:
            raise ValueError(f"while_above takes numeric fields only, not {not_numbers}")
        if self.phase is not None and self.anchor == "start":
            raise ValueError("give anchor or phase, not both: a cue counts from one moment")
        return self

    def above(self, values: dict[str, object]) -> bool:
        """Whether a reading is above any of `while_above`'s limits: not settled yet."""
        return any(
            isinstance(v := values.get(f), int | float) and not isinstance(v, bool) and v > limit
            for f, limit in self.while_above.items()
        )


class ReadingForm(_Strict):
    """The readings a check of one kind asks for; `optional` ones may be left out."""

    fields: tuple[FieldName, ...] = Field(min_length=1)
    optional: tuple[FieldName, ...] = ()

    @model_validator(mode="after")
    def _optional_are_asked(self) -> ReadingForm:
        if extra := [f for f in self.optional if f not in self.fields]:
            raise ValueError(f"optional fields must also be in fields: {extra}")
        return self

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f for f in self.fields if f not in self.optional)


class Threshold(_Strict):
    """A reading outside it raises an alert (not a block): the facilitators decide what follows."""

    field: FieldName
    above: float | None = None
    below: float | None = None
    is_yes: bool = False  # for yes/no fields: "yes" raises the alert
    when: Literal["any", "before_dose", "after_dose"] = "any"
    message: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, description='Where the limit comes from, or "clinic default"')

    @model_validator(mode="after")
    def _one_limit(self) -> Threshold:
        numeric = self.field in NUMERIC_FIELDS
        if numeric and (self.is_yes or (self.above is None) == (self.below is None)):
            raise ValueError(f"{self.field} is a number: give exactly one of above or below")
        if self.field in YES_NO_FIELDS and (not self.is_yes or self.above is not None or self.below is not None):
            raise ValueError(f"{self.field} is yes/no: give is_yes: true")
        if self.field not in NUMERIC_FIELDS and self.field not in YES_NO_FIELDS:
            raise ValueError(f"{self.field} ({FIELDS[self.field].type}) cannot have a threshold")
        return self

    def crossed(self, value: object) -> bool:
        if self.is_yes:
            return value is True
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        return (self.above is not None and value > self.above) or (self.below is not None and value < self.below)

    def limit_text(self) -> str:
        spec = FIELDS[self.field]
        if self.is_yes:
            return f"{spec.label.lower()}: yes"
        limit = f"above {self.above:g}" if self.above is not None else f"below {self.below:g}"
        return f"{spec.label.lower()} {limit} {spec.unit}".rstrip()


class FluidsRule(_Strict):
    """What the client drinks is recorded; reaching the cap (the session's total) raises an alert."""

    cap_ml: float = Field(gt=0, le=10_000)
    source: str = Field(min_length=1)
    advice: str = ""


class Devices(_Strict):
    """A dose given as several devices (Spravato: 28 mg each, 5 min apart); each one is recorded."""

    mg_per_device: float = Field(gt=0)
    max_devices: int = Field(ge=1, le=6)
    interval_min: float = Field(ge=0, le=60)
    source: str = Field(min_length=1)


class SessionTier(_Strict):
    """From this total dose (inclusive) on, the session lasts at least `min_session_min`."""

    from_amount: float = Field(ge=0)
    min_session_min: float = Field(gt=0)


class DoseRule(_Strict):
    """The dose as a number: its unit, and the rules that depend on it."""

    unit: str = Field(min_length=1, max_length=12, examples=["mg"])
    devices: Devices | None = None
    # Minimum session length by the total dose (all doses of the session added up), e.g. Oregon's.
    min_session_by_total: tuple[SessionTier, ...] = ()
    max_total: float | None = Field(default=None, gt=0)
    min_session_source: str = ""

    @model_validator(mode="after")
    def _tiers(self) -> DoseRule:
        starts = [t.from_amount for t in self.min_session_by_total]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise ValueError("min_session_by_total: from_amount must increase from one tier to the next")
        if self.min_session_by_total and not self.min_session_source:
            raise ValueError("min_session_by_total needs min_session_source: where the rule comes from")
        if self.devices is not None and self.unit != "mg":
            raise ValueError("devices are counted in mg: unit must be mg")
        return self

    def min_session_min(self, total: float | None) -> float | None:
        """The rule's minimum for a total dose; with the dose unknown, the longest (the safe side)."""
        if not self.min_session_by_total:
            return None
        if total is None:
            return max(t.min_session_min for t in self.min_session_by_total)
        fitting = [t for t in self.min_session_by_total if t.from_amount <= total]
        return fitting[-1].min_session_min if fitting else None


class Booster(_Strict):
    """An optional supplemental dose and how it lengthens the arc."""

    offer_from_min: float = Field(ge=0)
    offer_until_min: float = Field(gt=0)
    extends_phase: str = Name
    extend_min: float = Field(gt=0, le=6 * 60)
    max_count: int = Field(default=1, ge=1, le=3)
    note: str = ""
    # Where extend_min comes from: a booster's effect on the arc is a claim with a source.
    extend_source: str = ""

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
    dose: DoseRule | None = None
    # Which readings a check of each kind asks for, and what raises an alert.
    readings: dict[str, ReadingForm] = Field(default_factory=dict)
    thresholds: tuple[Threshold, ...] = ()
    fluids: FluidsRule | None = None
    # How many facilitators must be present from the dose on; fewer raises an alert.
    facilitators_required: int = Field(default=1, ge=0, le=6)
    facilitators_source: str = ""
    # A check acknowledged later than this after it fell due is reported as late.
    cue_late_after_min: float = Field(default=15, gt=0, le=240)
    # Spravato: the session must be reported on the REMS Patient Monitoring Form within 7 days.
    rems_form: bool = False

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
        if unknown_phases := [f"{c.id}: {c.phase}" for c in self.cues if c.phase is not None and c.phase not in names]:
            raise ValueError(f"cues count from a phase this preset does not have ({', '.join(unknown_phases)})")
        ids = [c.id for c in self.cues]
        if len(set(ids)) != len(ids):
            raise ValueError(f"cue ids must be unique, got {ids}")
        if unknown := [k for k in self.readings if k not in get_args(CueKind)]:
            raise ValueError(f"readings: no cue kind {unknown}; kinds are {', '.join(get_args(CueKind))}")
        return self

    @property
    def settled_rules(self) -> tuple[CueRule, ...]:
        """The cues that repeat "until values settle": their limits are what "settled" means for this preset."""
        return tuple(c for c in self.cues if c.while_above)

    def phase_index(self, name: str) -> int:
        return [p.name for p in self.phases].index(name)

    @property
    def nominal_arc_min(self) -> float:
        """Length of the timed phases, dose to closing."""
        return sum(p.duration_min or 0 for p in self.phases)


def find_preset(presets: Mapping[str, Preset], preset_id: str) -> Preset:
    """The preset of that id, or NotFound naming it (the one lookup, for the API and the rooms)."""
    try:
        return presets[preset_id]
    except KeyError:
        raise NotFound(f"no preset {preset_id!r}") from None
