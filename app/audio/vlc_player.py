"""The real player: libVLC through python-vlc, driven from one dedicated thread."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any, Literal, TypeVar

from app.audio.player import (
    DEBIAN_PACKAGES,
    AudioUnavailable,
    Listener,
    PlayerEvent,
    PlayerStatus,
    RampPoints,
    vlc_args,
)

T = TypeVar("T")
# libVLC reports the time every ~250-300 ms; between reports the position is extrapolated,
# but never by more than this, so a stalled player shows a stalled position.
MAX_EXTRAPOLATION_MS = 1000


def import_vlc() -> ModuleType:
    """Import python-vlc, turning its many ways of failing into one clear message."""
    try:
        import vlc
    # python-vlc raises NotImplementedError when libvlc is absent and exits on a bad
    # PYTHON_VLC_LIB_PATH; neither should take the service down without saying why.
    except (ImportError, OSError, NotImplementedError, SystemExit) as exc:
        raise AudioUnavailable(
            f"libVLC could not be loaded ({exc!r}). Install it with: sudo apt-get install {DEBIAN_PACKAGES}"
        ) from exc
    module: ModuleType = vlc
    return module


class VlcPlayer:
    """One libVLC instance and media player for a room (or for one deck of a room).

    libVLC is not reentrant and some calls block, so every call runs on this player's own
    single thread; the asyncio loop only awaits the result, and other rooms never wait on it.
    libVLC's event callbacks run on libVLC's threads: they only hand the event to the loop
    with `call_soon_threadsafe` and never call libVLC themselves.
    """

    def __init__(self, output: str = "default", device: str | None = None, name: str = "room") -> None:
        self.output = output
        self._args = vlc_args(output, device)
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"libvlc-{name}"
        )
        self._vlc: ModuleType | None = None
        self._instance: Any = None
        self._player: Any = None
        self._media: str | None = None
        self._volume = 100
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: Listener | None = None
        self._ramp_task: asyncio.Task[None] | None = None
        # Which play() the libVLC thread is on; events of an earlier one are dropped.
        self._generation = 0
        self._vlc_generation = 0
        self._lock = threading.Lock()
        # Position interpolation: libVLC's last reported time and when we first saw it.
        self._seen_ms = -1
        self._seen_at = 0.0
        self._reported_ms = 0
        # After play at an offset or a seek, libVLC still reports the old time for a moment.
        self._target_ms: int | None = None
        self._target_since = 0.0

    async def _call(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise AudioUnavailable("the player is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def start(self) -> None:
        self._vlc = import_vlc()
        self._loop = asyncio.get_running_loop()
        vlc = self._vlc

        def create() -> None:
            if self.output.startswith("afile:"):
                os.makedirs(os.path.dirname(os.path.abspath(self.output.removeprefix("afile:"))), exist_ok=True)
            instance = vlc.Instance(self._args)
            if instance is None:
                raise AudioUnavailable(
                    f"libVLC started without its plugins (output {self.output!r}). "
                    f"Install them with: sudo apt-get install {DEBIAN_PACKAGES}"
                )
            self._instance = instance
            self._player = instance.media_player_new()
            events = self._player.event_manager()
            events.event_attach(vlc.EventType.MediaPlayerEndReached, self._on_vlc_event, "ended")
            events.event_attach(vlc.EventType.MediaPlayerEncounteredError, self._on_vlc_event, "error")

        await self._call(create)

    async def close(self) -> None:
        self._cancel_ramp()
        self._listener = None
        if self._executor is None:
            return  # already closed

        def release() -> None:
            if self._player is not None:
                self._player.stop()
                self._player.release()
            if self._instance is not None:
                self._instance.release()
            self._player = self._instance = None

        try:
            await self._call(release)
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def set_listener(self, listener: Listener | None) -> None:
        self._listener = listener

    # --- libVLC's threads -> the loop ---

    def _on_vlc_event(self, event: Any, kind: Literal["ended", "error"]) -> None:
        # On a libVLC thread: no libVLC calls here (not reentrant), only a hand-off.
        with self._lock:
            generation, media = self._vlc_generation, self._media
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        error = "libVLC could not play it (missing, unreadable or not audio)" if kind == "error" else None
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            loop.call_soon_threadsafe(self._deliver, generation, PlayerEvent(kind, media, error))

    def _deliver(self, generation: int, event: PlayerEvent) -> None:
        if generation != self._generation or self._listener is None:
            return  # about a track that has since been replaced or stopped
        self._listener(event)

    # --- transport ---

    async def play(self, path: str, *, start_ms: int = 0) -> None:
        self._generation += 1
        generation = self._generation

        def play() -> None:
            media = self._instance.media_new(path) if "://" in path else self._instance.media_new_path(path)
            if start_ms > 0:
                media.add_option(f":start-time={start_ms / 1000:.3f}")
            with self._lock:
                self._vlc_generation = generation
            self._player.set_media(media)
            self._player.audio_set_volume(self._volume)
            self._player.play()

        self._media = path
        self._reset_position(start_ms)
        await self._call(play)

    async def pause(self) -> None:
        await self._call(lambda: self._player.set_pause(1))

    async def resume(self) -> None:
        def resume() -> None:
            self._player.set_pause(0)

        self._seen_ms = -1  # restart the interpolation from libVLC's next report
        await self._call(resume)

    async def stop(self) -> None:
        self._generation += 1
        await self._call(self._player.stop)
        self._media = None

    async def seek(self, position_ms: int) -> None:
        self._reset_position(position_ms)
        await self._call(lambda: self._player.set_time(max(0, int(position_ms))))

    def _reset_position(self, position_ms: int) -> None:
        self._seen_ms, self._seen_at, self._reported_ms = -1, time.monotonic(), max(0, position_ms)
        self._target_ms, self._target_since = max(0, position_ms), time.monotonic()

    # --- volume ---

    async def set_volume(self, volume_pct: int) -> None:
        self._cancel_ramp()
        await self._apply_volume(volume_pct)

    async def _apply_volume(self, volume_pct: int) -> None:
        self._volume = max(0, min(100, int(volume_pct)))
        volume = self._volume
        await self._call(lambda: self._player.audio_set_volume(volume) if self._player is not None else None)

    async def ramp_volume(self, points: RampPoints) -> None:
        self._cancel_ramp()
        ordered = sorted(points, key=lambda p: p[0])
        now = [p for p in ordered if p[0] <= 0]
        later = [p for p in ordered if p[0] > 0]
        if now:
            await self._apply_volume(now[-1][1])
        if later:
            self._ramp_task = asyncio.create_task(self._ramp(time.monotonic(), later), name="vlc-volume-ramp")

    async def _ramp(self, t0: float, points: RampPoints) -> None:
        for offset, pct in points:
            delay = t0 + offset - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._apply_volume(pct)

    def _cancel_ramp(self) -> None:
        if self._ramp_task is not None and not self._ramp_task.done():
            self._ramp_task.cancel()
        self._ramp_task = None

    # --- state ---

    def status(self) -> PlayerStatus:
        # Reads only: libVLC's getters are safe from any thread and must not queue behind a hung call.
        if self._player is None or self._vlc is None:
            return PlayerStatus(state="stopped", output=self.output, volume_pct=self._volume)
        s = self._player.get_state()
        states = self._vlc.State
        state = (
            "playing"
            if s in (states.Playing, states.Opening, states.Buffering)
            else "paused"
            if s == states.Paused
            else "error"
            if s == states.Error
            else "stopped"
        )
        return PlayerStatus(
            state=state,
            media=self._media,
            position_ms=self._position_ms(s == states.Playing),
            volume_pct=self._volume,
            output=self.output,
        )

    def _position_ms(self, playing: bool) -> int:
        """libVLC's time, interpolated with a monotonic clock between its coarse updates."""
        reported = self._player.get_time()
        now = time.monotonic()
        if self._target_ms is not None:
            if (reported >= 0 and abs(reported - self._target_ms) < 2_000) or now - self._target_since > 2:
                self._target_ms = None
            else:
                reported = -1  # the time from before the seek
        if reported >= 0 and reported != self._seen_ms:
            self._seen_ms, self._seen_at = reported, now
        if self._seen_ms < 0:
            return self._reported_ms
        position = self._seen_ms
        if playing:
            position += int(min(MAX_EXTRAPOLATION_MS, (now - self._seen_at) * 1000))
        # libVLC's next report may land a little behind our extrapolation: never go backwards.
        self._reported_ms = max(self._reported_ms, position) if playing else position
        return self._reported_ms
