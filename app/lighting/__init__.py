"""Lighting adapter: device dialects (codec) and each room's lights (fades, reports, re-asserts)."""

from app.lighting.controller import LightView, Link, RoomLights

__all__ = ["LightView", "Link", "RoomLights"]
