"""The real player: libVLC through python-vlc, driven from one dedicated thread."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any, Callable, TypeVar

from app.audio.player import DEBIAN_PACKAGES, AudioUnavailable, PlayerStatus, vlc_args

T = TypeVar("T")


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
    return vlc


class VlcPlayer:
    """One libVLC instance and media player for a room.

    libVLC is not reentrant and some calls block, so every call runs on this player's own
    single thread; the asyncio loop only awaits the result, and other rooms never wait on it.
    """

    def __init__(self, output: str = "default", device: str | None = None, name: str = "room") -> None:
        self.output = output
        self._args = vlc_args(output, device)
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=1,
                                                                        thread_name_prefix=f"libvlc-{name}")
        self._vlc: ModuleType | None = None
        self._instance: Any = None
        self._player: Any = None
        self._media: str | None = None
        self._volume = 100

    async def _call(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise AudioUnavailable("the player is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def start(self) -> None:
        self._vlc = import_vlc()
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

        await self._call(create)

    async def close(self) -> None:
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

    async def play(self, path: str, *, start_ms: int = 0) -> None:
        def play() -> None:
            media = self._instance.media_new(path) if "://" in path else self._instance.media_new_path(path)
            if start_ms > 0:
                media.add_option(f":start-time={start_ms / 1000:.3f}")
            self._player.set_media(media)
            self._player.audio_set_volume(self._volume)
            self._player.play()

        self._media = path
        await self._call(play)

    async def pause(self) -> None:
        await self._call(lambda: self._player.set_pause(1))

    async def resume(self) -> None:
        await self._call(lambda: self._player.set_pause(0))

    async def stop(self) -> None:
        await self._call(self._player.stop)
        self._media = None

    async def set_volume(self, volume_pct: int) -> None:
        self._volume = max(0, min(100, volume_pct))
        await self._call(lambda: self._player.audio_set_volume(self._volume))

    def status(self) -> PlayerStatus:
        # Reads only: libVLC's getters are safe from any thread and must not queue behind a hung call.
        if self._player is None or self._vlc is None:
            return PlayerStatus(state="stopped", output=self.output, volume_pct=self._volume)
        s = self._player.get_state()
        states = self._vlc.State
        state = ("playing" if s in (states.Playing, states.Opening, states.Buffering)
                 else "paused" if s == states.Paused
                 else "error" if s == states.Error else "stopped")
        return PlayerStatus(state=state, media=self._media, position_ms=max(0, self._player.get_time()),
                            volume_pct=self._volume, output=self.output)
