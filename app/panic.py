"""What the panic path answers, and how long it waits for the audio.

The path itself is `RoomController.panic` (app/room.py): every light up bright, the music
paused, the session frozen, each effect started without waiting for another and guarded on its
own, so a failing light, codec, broker, database or player cannot stop the others.
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from pydantic import BaseModel, Field

from app.domain.room_log import PanicStatus
from app.lighting.controller import Delivery

__all__ = [
    "AUDIO_CONFIRM_S",
    "AudioDelivery",
    "ClearMode",
    "LightDelivery",
    "PanicResult",
    "PanicStatus",
    "audio_outcome",
]

ClearMode = Literal["restore", "hold"]
# How long the panic response waits for the audio to confirm it paused.
AUDIO_CONFIRM_S = 0.08


class LightDelivery(BaseModel):
    name: str
    status: Delivery


class AudioDelivery(BaseModel):
    status: Literal["paused", "unconfirmed"]
    error: str | None = None
    confirmed_ms: float | None = Field(
        default=None, description="From the start of the panic to the player confirming, milliseconds"
    )


class PanicResult(BaseModel):
    room: str
    panic: bool
    already: bool = Field(description="The room was already in panic: light commands were sent again")
    took_ms: float = Field(description="Server-side handling time, milliseconds")
    lights: list[LightDelivery]
    audio: AudioDelivery
    session_id: str | None
    errors: list[str] = Field(default_factory=list, description="Effects that failed (each guarded on its own)")


async def audio_outcome(task: asyncio.Future[None], timeout_s: float, started: float) -> AudioDelivery:
    """Wait a bounded time for the player's answer; a hung player is reported, never waited for."""
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    took_ms = round((time.perf_counter() - started) * 1000, 3)
    if not done:
        # Left running: the pause is still queued on the player's thread and lands if it recovers.
        return AudioDelivery(status="unconfirmed", error=f"the player did not answer within {timeout_s * 1000:.0f} ms")
    if (exc := task.exception()) is not None:
        return AudioDelivery(status="unconfirmed", error=f"{type(exc).__name__}: {exc}")
    return AudioDelivery(status="paused", confirmed_ms=took_ms)
