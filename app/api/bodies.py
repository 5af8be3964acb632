"""Request bodies: strict, so a misspelt field is a 422 that names it, not a silent default."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartSession(_Body):
    preset: str = Field(min_length=1, max_length=40, examples=["psilocybin"])
    client_label: str | None = Field(default=None, max_length=80,
                                     description="A pseudonym or initials; keep names out of logs")


class Dose(_Body):
    booster: bool = False
    amount: str | None = Field(default=None, max_length=40, examples=["25 mg"])


class Extend(_Body):
    minutes: float = Field(gt=0, le=240)


class Note(_Body):
    text: str = Field(min_length=1, max_length=4000)


class End(_Body):
    override_reason: str | None = Field(default=None, max_length=500)
