"""A player that plays nothing, for fast tests; the contract suite holds it to VlcPlayer's behaviour.

Time comes from an injected clock (a ManualClock runs a twelve-hour arc in milliseconds):
positions advance with it, the end of a track is reported when the clock reaches it, and
volume ramps are evaluated against it. By default any path "plays" for ever; give
`durations` (path -> seconds; other paths are missing) or `check_files=True` (local files
must exist; WAV lengths are read) to have tracks end and missing or corrupt files fail as
they do with libVLC. `output_error` (or `fail_output()`) makes its audio output fail as
libVLC's does: the track "plays" on (state playing, position moving), status says why nothing
is heard, and an "output" event is reported once per track.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import time
import wave
from collections.abc import Mapping

from app.audio.player import Listener, PlayerEvent, PlayerStatus, PlayState, RampPoints
from app.domain.clock import Clock


class _Monotonic:
    """The default clock: real time, as libVLC would see it."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep_until(self, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))


class FakePlayer:
    def __init__(
        self,
        output: str = "fake",
        *,
        clock: Clock | None = None,
        durations: Mapping[str, float] | None = None,
        check_files: bool = False,
        output_error: str | None = None,
        drain_s: float = 0.0,
    ) -> None:
        self.output = output
        self.drain_s = drain_s
        self.output_error = output_error
        self.started = False
        self.calls: list[str] = []
        # (clock time, what, media, position_s): for tests that check what played when.
        self.history: list[tuple[float, str, str | None, float]] = []
        self._clock: Clock = clock or _Monotonic()
        self._durations = durations
        self._check_files = check_files
        self._state: PlayState = "stopped"
        self._media: str | None = None
        self._error: str | None = None
        self._length_s: float | None = None
        self._pos_s = 0.0  # position at _anchor (or now, when not playing)
        self._anchor = 0.0
        # When the volume changes: parallel lists, times ascending (bisect).
        self._volume_times: list[float] = [float("-inf")]
        self._volume_pcts: list[int] = [100]
        self._listener: Listener | None = None
        self._end_task: asyncio.Task[None] | None = None
        self._generation = 0  # as VlcPlayer: events of a replaced track are dropped
        self._output_failed: str | None = None  # the output error of the track playing now

    # --- lifecycle ---

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self._cancel_end()
        if self._state != "stopped":
            self._log("stop")
        self.started = False
        self._state = "stopped"
        self._listener = None

    def set_listener(self, listener: Listener | None) -> None:
        self._listener = listener

    # --- transport ---

    async def play(self, path: str, *, start_ms: int = 0) -> None:
        self.calls.append(f"play {path} @{start_ms}")
        await self._load(path, start_ms, paused=False)

    async def cue(self, path: str, *, start_ms: int = 0) -> None:
        self.calls.append(f"cue {path} @{start_ms}")
        await self._load(path, start_ms, paused=True)

    async def remaining_s(self) -> float | None:
        if self._state != "playing" or self._length_s is None:
            return None
        return max(0.0, self._length_s - self._position_s())

    def fail_output(self, reason: str | None) -> None:
        """From the next play or resume on, the output fails with this reason (None: it works again)."""
        self.output_error = reason

    async def _load(self, path: str, start_ms: int, *, paused: bool) -> None:
        self._generation += 1
        self._cancel_end()
        self._media, self._error, self._output_failed = path, None, None
        self._pos_s, self._anchor = max(0, start_ms) / 1000, self._clock.now()
        try:
            self._length_s = self._length_of(path)
        except OSError as exc:
            self._state, self._error = "error", str(exc)
            self._log("error")
            self._notify(PlayerEvent("error", path, str(exc)))
            return
        if paused:
            self._state = "paused"
            self._log("cue")
            return
        self._state = "playing"
        self._log("play")
        self._schedule_end()
        self._check_output()

    async def pause(self) -> None:
        self.calls.append("pause")
        self._set_points([])  # as libVLC's player: a pause ends the ramp (resume sends a new one)
        if self._state == "playing":
            self._pos_s = self._position_s()
            self._state = "paused"
            self._cancel_end()
            self._log("pause")

    async def resume(self) -> None:
        self.calls.append("resume")
        if self._state == "paused":
            self._anchor = self._clock.now()
            self._state = "playing"
            self._log("resume")
            self._schedule_end()
            self._check_output()

    async def stop(self) -> None:
        self.calls.append("stop")
        self._generation += 1
        self._cancel_end()
        if self._state != "stopped":
            self._log("stop")
        self._media, self._state, self._error, self._output_failed = None, "stopped", None, None

    async def seek(self, position_ms: int) -> None:
        self.calls.append(f"seek {position_ms}")
        if self._state in ("playing", "paused"):
            self._pos_s, self._anchor = max(0, position_ms) / 1000, self._clock.now()
            self._log("seek")
            if self._state == "playing":
                self._cancel_end()
                self._schedule_end()

    # --- volume ---

    async def set_volume(self, volume_pct: int) -> None:
        self._set_points([(0.0, volume_pct)])

    async def ramp_volume(self, points: RampPoints) -> None:
        self._set_points(points)

    def volume_at(self, t: float) -> int:
        return self._volume_pcts[bisect.bisect_right(self._volume_times, t) - 1]

    def volume_log(self) -> list[tuple[float, int]]:
        """Every volume this player has been set to so far, with the clock time."""
        n = bisect.bisect_right(self._volume_times, self._clock.now())
        return list(zip(self._volume_times[1:n], self._volume_pcts[1:n], strict=False))

    def _set_points(self, points: RampPoints) -> None:
        now = self._clock.now()
        # A new ramp replaces what was still to come of the previous one.
        n = bisect.bisect_right(self._volume_times, now)
        del self._volume_times[n:], self._volume_pcts[n:]
        for offset, pct in sorted(points, key=lambda p: p[0]):
            self._volume_times.append(now + max(0.0, offset))
            self._volume_pcts.append(max(0, min(100, int(pct))))

    # --- state ---

    def status(self) -> PlayerStatus:
        return PlayerStatus(
            state=self._state,
            media=self._media,
            position_ms=round(self._position_s() * 1000),
            volume_pct=self.volume_at(self._clock.now()),
            output=self.output,
            error=self._error,
            output_error=self._output_failed,
            length_ms=None if self._length_s is None or self._media is None else round(self._length_s * 1000),
        )

    def _check_output(self) -> None:
        self._output_failed = self.output_error
        if self.output_error is not None:
            self._log("output failed")
            self._notify(PlayerEvent("output", self._media, self.output_error))

    def _position_s(self) -> float:
        if self._state != "playing":
            return self._pos_s
        pos = self._pos_s + (self._clock.now() - self._anchor)
        return min(pos, self._length_s) if self._length_s is not None else pos

    def _length_of(self, path: str) -> float | None:
        if self._durations is not None:
            if path not in self._durations:
                raise FileNotFoundError(f"no such file: {path}")
            return float(self._durations[path])
        if not self._check_files or "://" in path:
            return None
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such file: {path}")
        if path.lower().endswith(".wav"):
            try:
                with wave.open(path, "rb") as w:
                    return w.getnframes() / w.getframerate()
            except (wave.Error, EOFError) as exc:
                raise OSError(f"cannot decode {path}: {exc}") from exc
        return None

    def _schedule_end(self) -> None:
        if self._length_s is None:
            return
        end_at = self._anchor + (self._length_s - self._pos_s)
        self._end_task = asyncio.ensure_future(self._end_at(end_at, self._media))

    async def _end_at(self, when: float, media: str | None) -> None:
        await self._clock.sleep_until(when)
        if self._media != media or self._state != "playing":
            return
        self._pos_s = self._length_s or self._pos_s
        self._state = "stopped"  # libVLC's Ended, which the players report as stopped
        self._log("ended")
        self._end_task = None
        self._notify(PlayerEvent("ended", media))

    def _cancel_end(self) -> None:
        if self._end_task is not None and self._end_task is not asyncio.current_task():
            self._end_task.cancel()
        self._end_task = None

    def _notify(self, event: PlayerEvent) -> None:
        # As from libVLC: the event arrives on the loop, after the call that caused it returns.
        asyncio.get_running_loop().call_soon(self._deliver, self._generation, event)

    def _deliver(self, generation: int, event: PlayerEvent) -> None:
        if generation == self._generation and self._listener is not None:
            self._listener(event)

    def _log(self, what: str) -> None:
        self.history.append((self._clock.now(), what, self._media, self._position_s()))
