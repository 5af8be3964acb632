"""The panic path: every light up bright, the music paused, the session frozen, at once.

Each effect is started without waiting for another: light commands are queued for the broker
(never awaiting an acknowledgement), the audio pause runs on its player's own thread and is
given a bounded wait, and the event is recorded. Whatever fails is reported as unconfirmed,
and what did not reach the broker goes out the moment it is back (the lighting controller
re-asserts intended states on every reconnect).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel

from app.domain.clock import Clock
from app.domain.errors import Conflict
from app.engine import SessionEngine
from app.lighting import Lighting
from app.lighting.controller import LightingSnapshot

log = logging.getLogger(__name__)

ClearMode = Literal["restore", "hold"]
# How long the panic response waits for the audio to confirm it paused.
AUDIO_CONFIRM_S = 0.08
# Restoring the room after a panic: slow enough not to startle, quick enough to be useful.
RESTORE_LIGHTS_S = 10.0
RESTORE_AUDIO_FADE_S = 8.0


class RoomAudio(Protocol):
    async def pause(self, fade_s: float = 0.0) -> None: ...

    async def resume(self, fade_in_s: float = 0.0) -> None: ...


class LightDelivery(BaseModel):
    name: str
    status: Literal["sent", "confirmed", "unconfirmed"]


class AudioDelivery(BaseModel):
    status: Literal["paused", "unconfirmed"]
    error: str | None = None
    confirmed_ms: float | None = None  # from the start of the panic to the player confirming


class PanicResult(BaseModel):
    room: str
    panic: bool
    already: bool
    took_ms: float
    lights: list[LightDelivery]
    audio: AudioDelivery
    session_id: str | None


class PanicStatus(BaseModel):
    active: bool
    mode: Literal["panic", "held"] | None = None  # held: cleared with mode "hold", room still bright and quiet
    since: float | None = None
    by: str | None = None


@dataclass
class _Panic:
    since: float
    by: str
    lights_before: LightingSnapshot
    held: bool = False


class PanicControl:
    def __init__(self, engine: SessionEngine, lighting: Lighting, audio: Mapping[str, RoomAudio], clock: Clock,
                 notify: Callable[[str, str, dict[str, object]], None], *, audio_fade_s: float = 0.0) -> None:
        self.engine = engine
        self.lighting = lighting
        self.audio = audio
        self.clock = clock
        self._notify = notify
        self._audio_fade_s = audio_fade_s
        self._rooms: dict[str, _Panic] = {}

    def status(self, room: str) -> PanicStatus:
        p = self._rooms.get(room)
        if p is None:
            return PanicStatus(active=False)
        return PanicStatus(active=True, mode="held" if p.held else "panic", since=p.since, by=p.by)

    async def panic(self, room: str, by: str) -> PanicResult:
        started = time.perf_counter()
        self.engine.room(room)  # 404 before anything else
        already = room in self._rooms and not self._rooms[room].held
        if already:
            log.warning("panic in %s while already in panic (by %s): light commands sent again", room, by)
        else:
            before = self._rooms[room].lights_before if room in self._rooms else self.lighting.snapshot(room)
            self._rooms[room] = _Panic(self.clock.now(), by, before)
        # 1. Lights: queued for the broker now; nothing here waits for the network.
        self.lighting.apply_scene(room, "panic", source="panic")
        # 2. Audio: on its own thread; we wait a little for the answer, never for a hung player.
        pause = asyncio.ensure_future(self.audio[room].pause(self._audio_fade_s))
        # 3. Session: recorded and frozen (no cue, phase change or scene fade fires in panic).
        session = None
        try:
            session = self.engine.panic(room, by)
        except Exception:  # the room must still brighten if the database is failing
            log.exception("could not record the panic in %s", room)
        audio = await self._audio_outcome(pause, AUDIO_CONFIRM_S, started)
        self._notify(room, "panic", {"by": by})
        took_ms = (time.perf_counter() - started) * 1000
        log.warning("PANIC in %s by %s: handled in %.1f ms, audio %s", room, by, took_ms, audio.status)
        return PanicResult(room=room, panic=True, already=already, took_ms=round(took_ms, 3),
                           lights=[LightDelivery(name=n, status=s) for n, s in self.lighting.delivery(room).items()],
                           audio=audio, session_id=session.session_id if session else None)

    async def clear(self, room: str, mode: ClearMode, by: str) -> PanicStatus:
        self.engine.room(room)
        p = self._rooms.get(room)
        if p is None:
            raise Conflict(f"room {room!r} is not in panic")
        if p.held and mode == "hold":
            raise Conflict(f"room {room!r} is already held after a panic; clear with mode 'restore' to bring it back")
        self.engine.clear_panic(room, mode, by)
        if mode == "hold":
            p.held = True
        else:
            del self._rooms[room]
            self.lighting.restore(room, p.lights_before, RESTORE_LIGHTS_S)
            outcome = await self._audio_outcome(
                asyncio.ensure_future(self.audio[room].resume(RESTORE_AUDIO_FADE_S)), 1.0, time.perf_counter())
            if outcome.error is not None:
                log.warning("audio in %s did not confirm resuming after panic: %s", room, outcome.error)
        self._notify(room, "panic_cleared", {"mode": mode, "by": by})
        return self.status(room)

    def resume_after_restart(self, room: str, since: float) -> None:
        """A session that was in panic when the service stopped comes back in panic."""
        self._rooms[room] = _Panic(since, "before restart", self.lighting.snapshot(room))
        self.lighting.apply_scene(room, "panic", source="panic")

    @staticmethod
    async def _audio_outcome(task: asyncio.Future[None], timeout_s: float, started: float) -> AudioDelivery:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        took_ms = round((time.perf_counter() - started) * 1000, 3)
        if not done:
            # Left running: the pause is still queued on the player's thread and lands if it recovers.
            return AudioDelivery(status="unconfirmed", error=f"the player did not answer within {timeout_s * 1000:.0f} ms")
        if (exc := task.exception()) is not None:
            return AudioDelivery(status="unconfirmed", error=repr(exc))
        return AudioDelivery(status="paused", confirmed_ms=took_ms)
