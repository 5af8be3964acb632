"""Lighting scenes as data: what each role (ceiling, lamp, accent) does, and how slowly to get there."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.domain.light import LightState
from app.domain.rooms import Role

ROLES: tuple[Role, ...] = ("ceiling", "lamp", "accent")


class Scene(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    fade_s: float = Field(ge=0, le=3600, description="Default fade into this scene")
    all: LightState | None = Field(default=None, description="For roles not listed")
    ceiling: LightState | None = None
    lamp: LightState | None = None
    accent: LightState | None = None

    @model_validator(mode="after")
    def _every_role_covered(self) -> Scene:
        missing = [r for r in ROLES if getattr(self, r) is None]
        if missing and self.all is None:
            raise ValueError(f"no setting for role(s) {', '.join(missing)}: add them or `all`")
        return self

    def for_role(self, role: Role) -> LightState:
        state = getattr(self, role) or self.all
        assert state is not None  # the validator guarantees it
        return state


class ScenesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scenes: dict[str, Scene]

    @model_validator(mode="after")
    def _required(self) -> ScenesFile:
        required = {"idle", "arrival", "dosing", "onset", "peak", "descent", "return", "closing", "panic"}
        missing = required - set(self.scenes)
        if missing:
            raise ValueError(f"missing required scene(s): {', '.join(sorted(missing))}")
        panic = self.scenes["panic"]
        if panic.fade_s > 0.5:
            raise ValueError("the panic scene must fade in 0.5 s or less")
        return self
