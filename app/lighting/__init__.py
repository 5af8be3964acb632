"""Lighting adapter: device dialects (codec) and the room lighting controller."""

from app.lighting.controller import Lighting, LightView, RoomLighting

__all__ = ["LightView", "Lighting", "RoomLighting"]
