"""The real player: libVLC through python-vlc, driven from one dedicated thread."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any, Literal, TypeVar

import numpy as np

from app.audio.pcm_feed import CHANNELS, FORMAT, RATE, DeckTap
from app.audio.player import (
    DEBIAN_PACKAGES,
    AudioUnavailable,
    Listener,
    PlayerEvent,
    PlayerStatus,
    RampPoints,
    vlc_args,
)
from app.audio.vlc_log import OutputLog, quiet_alsa

T = TypeVar("T")
# libVLC reports the time every ~250-300 ms; between reports the position is extrapolated,
# but never by more than this, so a stalled player shows a stalled position.
MAX_EXTRAPOLATION_MS = 1000
# remaining_s() watches libVLC's clock this long, polling this often: its time changes every ~250-300 ms,
# and each new value is exact at the moment it appears (measured: to within 1-2 ms), so seeing two
# changes as they happen puts the player's clock to within the poll interval.
CLOCK_WATCH_S = 0.8
CLOCK_POLL_S = 0.002
# A track that has sounded this long with audio decoded and not one buffer played has no output:
# the check behind the log's word for it (libVLC's wording may change, its counters do not).
OUTPUT_CHECK_S = 1.5
# libVLC hands the last second or so of a file to the sound server at once and then drains it; a
# volume set meanwhile is not applied (measured on PulseAudio: the level stayed where it was for the
# last 1.0 s of the file, then stopped). Fades out are finished this long before a file's end.
DRAIN_S = 1.5


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

    An audio output that cannot be opened is reported, with libVLC's reason, as an "output"
    event (once per track) and in `status().output_error` (app/audio/vlc_log.py says how).
    """

    drain_s = DRAIN_S

    def __init__(
        self, output: str = "default", device: str | None = None, name: str = "room", tap: DeckTap | None = None
    ) -> None:
        self.output = output
        # With a tap, libVLC hands its decoded audio to it (a Snapcast stream's mix) instead of to an output.
        self._tap = tap
        self._callbacks: tuple[Any, ...] = ()  # the ctypes callbacks libVLC holds: kept alive while it may call them
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
        self._output_log: OutputLog | None = None
        self._vlc_media: Any = None  # the current libVLC media, for its counters
        self._sounding_since: float | None = None  # monotonic time of the last play/resume, None when still
        self._output_error: tuple[int, str] | None = None  # (generation, reason) from libVLC's log

    async def _call(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise AudioUnavailable("the player is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def start(self) -> None:
        self._vlc = import_vlc()
        self._loop = asyncio.get_running_loop()
        vlc = self._vlc
        quiet_alsa()

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
            self._output_log = OutputLog(vlc, instance, self._on_output_failure)
            self._player = instance.media_player_new()
            if self._tap is not None:
                self._send_audio_to(self._tap)
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
            self._player = self._instance = self._vlc_media = None

        try:
            await self._call(release)
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def set_listener(self, listener: Listener | None) -> None:
        self._listener = listener

    def _send_audio_to(self, tap: DeckTap) -> None:
        """libVLC's audio callbacks, on libVLC's threads: copy the samples out and return at once."""
        vlc = self._vlc
        assert vlc is not None
        decorators = vlc.CallbackDecorators

        @decorators.AudioPlayCb  # type: ignore[untyped-decorator]
        def play(_data: Any, samples: int, count: int, pts: int) -> None:
            frames = np.frombuffer(ctypes.string_at(samples, count * CHANNELS * 2), dtype=np.int16)
            tap.play(frames.reshape(count, CHANNELS), pts)

        @decorators.AudioPauseCb  # type: ignore[untyped-decorator]
        def pause(_data: Any, pts: int) -> None:
            tap.pause(pts)

        @decorators.AudioResumeCb  # type: ignore[untyped-decorator]
        def resume(_data: Any, pts: int) -> None:
            tap.resume(pts)

        @decorators.AudioFlushCb  # type: ignore[untyped-decorator]
        def flush(_data: Any, _pts: int) -> None:
            tap.flush()

        @decorators.AudioDrainCb  # type: ignore[untyped-decorator]
        def drain(_data: Any) -> None:
            return None

        # Registered so that libVLC leaves the samples at full scale: the feed applies the volume
        # as each block is played (set_volume below), not 2 s early as libVLC would when decoding.
        @decorators.AudioSetVolumeCb  # type: ignore[untyped-decorator]
        def volume(_data: Any, _volume: float, _mute: bool) -> None:
            return None

        self._callbacks = (play, pause, resume, flush, drain, volume)
        self._player.audio_set_callbacks(play, pause, resume, flush, drain, None)
        self._player.audio_set_volume_callback(volume)
        self._player.audio_set_format(FORMAT, RATE, CHANNELS)

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

    def _on_output_failure(self, reason: str) -> None:
        # On a libVLC thread, for every failed attempt (many a second): store, and tell the loop once per track.
        with self._lock:
            generation, media = self._vlc_generation, self._media
            if self._output_error is not None and self._output_error[0] == generation:
                return
            self._output_error = (generation, reason)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._deliver, generation, PlayerEvent("output", media, reason))

    def _deliver(self, generation: int, event: PlayerEvent) -> None:
        if generation != self._generation or self._listener is None:
            return  # about a track that has since been replaced or stopped
        self._listener(event)

    # --- transport ---

    async def play(self, path: str, *, start_ms: int = 0) -> None:
        await self._load(path, start_ms, paused=False)

    async def cue(self, path: str, *, start_ms: int = 0) -> None:
        # ":start-paused" opens the file and stops before decoding: no output is opened and nothing
        # sounds until resume(), which then starts about as fast as play() does (measured: the two
        # delays cancel out within a few milliseconds on a PulseAudio sink), so a cued track resumed
        # at the moment the track before it ends joins it without a gap.
        await self._load(path, start_ms, paused=True)

    async def _load(self, path: str, start_ms: int, *, paused: bool) -> None:
        self._generation += 1
        generation = self._generation

        def load() -> None:
            media = self._instance.media_new(path) if "://" in path else self._instance.media_new_path(path)
            if start_ms > 0:
                media.add_option(f":start-time={start_ms / 1000:.3f}")
            if paused:
                media.add_option(":start-paused")
            with self._lock:
                self._vlc_generation = generation
            self._vlc_media = media
            self._player.set_media(media)
            self._player.audio_set_volume(self._volume)
            self._player.play()

        self._media = path
        self._reset_position(start_ms)
        self._sounding_since = None if paused else time.monotonic()
        await self._call(load)

    async def remaining_s(self) -> float | None:
        # libVLC's time runs slightly ahead of what is heard, but so does a resumed player's: a join
        # timed by it lands within a few tens of milliseconds even on a loaded machine, where one timed
        # from when play() was called can be hundreds off (the start of playback is what load delays).
        player = self._player
        if player is None or self._media is None:
            return None
        length: int = player.get_length()
        if length <= 0:
            return None
        loop = asyncio.get_running_loop()
        last: int = player.get_time()
        offsets: list[float] = []
        deadline = loop.time() + CLOCK_WATCH_S
        while loop.time() < deadline and len(offsets) < 2:
            await asyncio.sleep(CLOCK_POLL_S)
            if self._player is not player or not player.is_playing():
                return None
            t: int = player.get_time()
            if t != last and t > 0:
                offsets.append(time.monotonic() - t / 1000)  # when position 0 was, by libVLC's clock
                last = t
        if not offsets:
            return None
        return max(0.0, min(offsets) + length / 1000 - time.monotonic())

    async def pause(self) -> None:
        self._sounding_since = None
        # A paused player's ramp is moot (resume sends a new one), and its volume calls queued on
        # the player's thread would hold up the pause: a panic's pause goes first.
        self._cancel_ramp()
        await self._call(lambda: self._player.set_pause(1))

    async def resume(self) -> None:
        def resume() -> None:
            self._player.set_pause(0)

        self._seen_ms = -1  # restart the interpolation from libVLC's next report
        if self._media is not None:
            self._sounding_since = time.monotonic()
        await self._call(resume)

    async def stop(self) -> None:
        self._generation += 1
        self._sounding_since = None
        # Not libVLC's stop(): it also drops the player's audio output, and until the next track has
        # opened a new one, a volume cannot be set (audio_set_volume fails), so that track would start
        # at full volume for the ~100 ms until its fade-in's next step (measured on a PulseAudio sink).
        # Unloading the media stops it as promptly and keeps the output, and the volume with it.
        await self._call(lambda: self._player.set_media(None))
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
        if self._tap is not None:
            self._tap.set_volume(volume)  # heard from the next 20 ms block on
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
        generation = self._generation
        try:
            for offset, pct in points:
                delay = t0 + offset - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._apply_volume(pct)
        except Exception as exc:  # noqa: BLE001 - a ramp nobody awaits must not fail unseen
            # A volume that stopped following its fade is this track failing: the decks show the
            # error and move on (and log it), as for a file that cannot be played.
            reason = f"volume ramp failed: {type(exc).__name__}: {exc}"
            self._deliver(generation, PlayerEvent("error", self._media, reason))

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
        length_ms = self._player.get_length() if self._media is not None else -1
        return PlayerStatus(
            state=state,
            media=self._media,
            position_ms=self._position_ms(s == states.Playing),
            volume_pct=self._volume,
            output=self.output,
            output_error=self._output_problem(s == states.Playing),
            length_ms=length_ms if length_ms > 0 else None,
        )

    def _output_problem(self, playing: bool) -> str | None:
        """Why this track does not reach the output, if it does not."""
        with self._lock:
            logged = self._output_error
            generation = self._vlc_generation
        if logged is not None and logged[0] == generation and generation == self._generation:
            return logged[1]
        since, media = self._sounding_since, self._vlc_media
        if not playing or since is None or media is None or time.monotonic() - since < OUTPUT_CHECK_S:
            return None
        stats = self._vlc.MediaStats() if self._vlc is not None else None
        if stats is None or not media.get_stats(stats):
            return None
        if stats.decoded_audio > 0 and stats.played_abuffers == 0:
            return "libVLC decodes the track but no audio buffer has reached the output"
        return None

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
