"""Request bodies: strict, so a misspelt field is a 422 that names it, not a silent default."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.domain.presets import CueKind
from app.domain.readings import Readings

# "25 mg", "0.5mg/kg", "100 µg": a number and a unit in one string, as the dashboard used to send.
_AMOUNT_WITH_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([^\d\s][^\s]{0,11})?\s*$")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class StartSession(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"preset": "psilocybin", "client_label": "P-017"}]})

    preset: str = Field(min_length=1, max_length=40, examples=["psilocybin"])
    client_label: str | None = Field(
        default=None, max_length=80, description="A pseudonym or initials; keep names out of logs"
    )
    playlist: str | None = Field(
        default=None,
        max_length=60,
        description="Default: the preset's clinic playlist if one is set up, else its demo one",
    )
    intention: str | None = Field(
        default=None,
        min_length=1,
        max_length=280,
        description="The client's intention for the session, de-identified (no names): shown on the room view "
        "and in the report, and destroyed with the session's key like the rest of its personal data",
    )


class Dose(_Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"amount": 25, "unit": "mg"}, {"booster": True, "amount": 60, "unit": "mg"}]}
    )

    booster: bool = False
    amount: float | None = Field(
        default=None, gt=0, le=100_000, examples=[25], description='A number; "25 mg" is read as 25 with unit mg'
    )
    unit: str | None = Field(default=None, min_length=1, max_length=12, description="Default: the preset's unit")
    lot: str | None = Field(default=None, min_length=1, max_length=40, description="The product's lot number")
    override_reason: str | None = Field(
        default=None, max_length=500, description="Give a booster outside its window anyway, for this reason"
    )

    @model_validator(mode="before")
    @classmethod
    def _amount_with_unit(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("amount"), str):
            match = _AMOUNT_WITH_UNIT.match(data["amount"])
            if match:
                unit = match.group(2)
                data = {**data, "amount": float(match.group(1))}
                if unit and "unit" not in data:
                    data["unit"] = unit
        return data


class Extend(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"minutes": 30}]})

    minutes: float = Field(gt=0, le=240)


class Note(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "Client resting, breathing calm."}]})

    text: str = Field(min_length=1, max_length=4000)


class End(_Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{}, {"override_reason": "client transferred to hospital"}]}
    )

    override_reason: str | None = Field(default=None, max_length=500)


class Acknowledge(_Body):
    """A due check, done: the readings its kind asks for, or why they were not taken."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"readings": {"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": 76}},
                {"not_taken_reason": "client asleep"},
            ]
        }
    )

    readings: Readings | None = None
    not_taken_reason: str | None = Field(default=None, min_length=1, max_length=500)


class Reading(_Body):
    """A reading taken at any time, outside the schedule."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"readings": {"systolic_mmhg": 142, "diastolic_mmhg": 91}, "kind": "blood_pressure"}]
        }
    )

    readings: Readings
    kind: CueKind | None = Field(default=None, description="Which kind of check it is, if any")


class AlertAck(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"facilitator": "A. Rivera"}]})

    facilitator: str | None = Field(
        default=None, min_length=1, max_length=60, description="The facilitator acknowledging (signed in)"
    )


class Facilitator(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "A. Rivera"}]})

    name: str = Field(min_length=1, max_length=60, examples=["A. Rivera"])


class RemsFiled(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reference": "REMS-2026-0042"}]})

    reference: str | None = Field(default=None, min_length=1, max_length=80, description="e.g. the confirmation")


class RoomLights(_Body):
    """Either a scene, or a brightness and/or colour temperature for every light in the room."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"scene": "peak"}, {"brightness": 30, "kelvin": 2700, "transition": 10}]}
    )

    scene: str | None = Field(default=None, max_length=40, examples=["peak"])
    brightness: float | None = Field(default=None, ge=0, le=100, description="Percent; 0 turns the lights off")
    kelvin: int | None = Field(default=None, ge=1500, le=9000)
    transition: float | None = Field(
        default=None, ge=0, le=3600, description="Seconds; default: the scene's fade, or 2 s"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> RoomLights:
        direct = self.brightness is not None or self.kelvin is not None
        if self.scene is not None and direct:
            raise ValueError("give either scene, or brightness/kelvin, not both")
        if self.scene is None and not direct:
            raise ValueError("give scene, brightness or kelvin")
        return self


class OneLight(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"brightness": 20, "kelvin": 2400}, {"on": False}]})

    on: bool | None = None
    brightness: float | None = Field(default=None, ge=0, le=100)
    kelvin: int | None = Field(default=None, ge=1500, le=9000)
    rgb: tuple[int, int, int] | None = None
    transition: float = Field(default=2.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _something(self) -> OneLight:
        if self.on is None and self.brightness is None and self.kelvin is None and self.rgb is None:
            raise ValueError("give on, brightness, kelvin or rgb")
        if self.rgb is not None and not all(0 <= c <= 255 for c in self.rgb):
            raise ValueError("rgb components must be 0-255")
        return self


class ClearPanic(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"mode": "restore"}, {"mode": "hold"}]})

    mode: Literal["restore", "hold"] = Field(
        description="restore: lights back to the pre-panic scene over ~10 s and the music resumes with a "
        "fade-in; hold: the room stays bright and quiet, the session stays on hold"
    )


class AudioCommand(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"action": "pause"}, {"volume": 40}]})

    action: Literal["pause", "resume", "skip"] | None = None
    volume: int | None = Field(default=None, ge=0, le=100, description="Percent; capped at the room's ceiling")

    @model_validator(mode="after")
    def _something(self) -> AudioCommand:
        if self.action is None and self.volume is None:
            raise ValueError("give action, volume or both")
        return self


class Talk(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"on": True}]})

    on: bool = Field(
        description="true: the music ducks (about -12 dB over 1 s, ARCROOM_TALK_*) until released or the "
        "timeout; false: it comes back over about 3 s",
        examples=[True],
    )


class ChoosePlaylist(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"playlist": "hopkins_psilocybin_2020"}]})

    playlist: str = Field(
        min_length=1,
        max_length=80,
        description="A playlist made for the session's preset, whose library is configured",
        examples=["hopkins_psilocybin_2020"],
    )
