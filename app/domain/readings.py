"""Readings taken during a session: the fields a check can ask for, and the limits of the possible.

Which fields a check of each kind asks for, and which values raise an alert, are the preset's
(`readings:` and `thresholds:`). What a human body can possibly show is not a protocol's choice,
so it is here: a value outside it is a typing slip (a 400 for a 140), refused with a 422 that
names the field, before anything is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.domain.errors import Invalid

FieldName = Literal[
    "systolic_mmhg",
    "diastolic_mmhg",
    "heart_rate_bpm",
    "spo2_pct",
    "temperature_c",
    "sedation",
    "dissociation",
    "respiratory_depression",
    "fluid",
    "fluid_ml",
    "note",
]
FIELD_NAMES: tuple[str, ...] = get_args(FieldName)


@dataclass(frozen=True)
class FieldSpec:
    """How a field is entered and shown; `min`/`max` bound what is physiologically possible."""

    label: str
    unit: str
    type: Literal["number", "yes_no", "text"]
    min: float | None = None
    max: float | None = None
    step: float | None = None

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


# Possible, not normal: wide enough for any living client, narrow enough to catch a slip of the finger.
FIELDS: dict[str, FieldSpec] = {
    "systolic_mmhg": FieldSpec("Systolic blood pressure", "mmHg", "number", 40, 300, 1),
    "diastolic_mmhg": FieldSpec("Diastolic blood pressure", "mmHg", "number", 20, 200, 1),
    "heart_rate_bpm": FieldSpec("Heart rate", "bpm", "number", 20, 250, 1),
    "spo2_pct": FieldSpec("SpO2", "%", "number", 50, 100, 1),
    "temperature_c": FieldSpec("Temperature", "°C", "number", 30, 45, 0.1),
    "sedation": FieldSpec("Sedation", "", "yes_no"),
    "dissociation": FieldSpec("Dissociation", "", "yes_no"),
    "respiratory_depression": FieldSpec("Respiratory depression", "", "yes_no"),
    "fluid": FieldSpec("Drink", "", "text"),
    "fluid_ml": FieldSpec("Amount drunk", "ml", "number", 1, 2000, 10),
    "note": FieldSpec("Note", "", "text"),
}
NUMERIC_FIELDS = tuple(name for name, spec in FIELDS.items() if spec.type == "number")
YES_NO_FIELDS = tuple(name for name, spec in FIELDS.items() if spec.type == "yes_no")


InvalidReading = Invalid  # values the preset's form needs and did not get: a 422, like a malformed body


class Readings(BaseModel):
    """The values of one reading; every field is optional here, the preset's form says what is needed."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    systolic_mmhg: float | None = None
    diastolic_mmhg: float | None = None
    heart_rate_bpm: float | None = None
    spo2_pct: float | None = None
    temperature_c: float | None = None
    sedation: bool | None = None
    dissociation: bool | None = None
    respiratory_depression: bool | None = None
    fluid: str | None = Field(default=None, min_length=1, max_length=60, examples=["electrolyte drink"])
    fluid_ml: float | None = None
    note: str | None = Field(default=None, min_length=1, max_length=2000)

    @field_validator(*NUMERIC_FIELDS)
    @classmethod
    def _possible(cls, value: float | None, info: Any) -> float | None:
        spec = FIELDS[info.field_name]
        if value is not None and spec.min is not None and spec.max is not None and not spec.min <= value <= spec.max:
            raise ValueError(
                f"{value:g} {spec.unit} is not a possible {spec.label.lower()} ({spec.min:g}-{spec.max:g} {spec.unit})"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Readings:
        s, d = self.systolic_mmhg, self.diastolic_mmhg
        if s is not None and d is not None and d >= s:
            raise ValueError(f"diastolic_mmhg ({d:g}) must be below systolic_mmhg ({s:g})")
        if (self.fluid is None) != (self.fluid_ml is None):
            raise ValueError("fluid and fluid_ml go together: what was drunk, and how much")
        return self

    def given(self) -> dict[str, Any]:
        """The values that were entered, in the fields' order."""
        return self.model_dump(exclude_none=True)


def blood_pressure(values: dict[str, Any]) -> str | None:
    """ "128/82" from a reading's values, or None without both pressures."""
    s, d = values.get("systolic_mmhg"), values.get("diastolic_mmhg")
    return None if s is None or d is None else f"{s:g}/{d:g}"


def format_values(values: dict[str, Any]) -> str:
    """One line for a report: "BP 128/82 mmHg, HR 70 bpm, sedation no, ..."."""
    parts: list[str] = []
    bp = blood_pressure(values)
    if bp:
        parts.append(f"BP {bp} mmHg")
    for name in FIELD_NAMES:
        if name in ("systolic_mmhg", "diastolic_mmhg") and bp:
            continue
        if name not in values or name == "note":
            continue
        spec, value = FIELDS[name], values[name]
        if spec.type == "yes_no":
            parts.append(f"{spec.label.lower()} {'yes' if value else 'no'}")
        elif spec.type == "number":
            parts.append(f"{_short(name)} {value:g} {spec.unit}".rstrip())
        else:
            parts.append(str(value))
    if values.get("note"):
        parts.append(f"note: {values['note']}")
    return ", ".join(parts)


_SHORT = {"heart_rate_bpm": "HR", "spo2_pct": "SpO2", "temperature_c": "T", "fluid_ml": "", "systolic_mmhg": "SBP"}


def _short(name: str) -> str:
    return _SHORT.get(name, FIELDS[name].label)
