"""The player interface every room's audio goes through."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel

PlayState = Literal["stopped", "playing", "paused", "error"]
DEBIAN_PACKAGES = "libvlc5 vlc-plugin-base"


class AudioUnavailable(RuntimeError):
    """libVLC (or its plugins) cannot be loaded; the message says what to install."""


class PlayerStatus(BaseModel):
    state: PlayState
    media: str | None = None
    position_ms: int = 0
    volume_pct: int = 0
    output: str = "default"
    error: str | None = None


class Player(Protocol):
    output: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def play(self, path: str, *, start_ms: int = 0) -> None: ...

    async def pause(self) -> None: ...

    async def resume(self) -> None: ...

    async def stop(self) -> None: ...

    async def set_volume(self, volume_pct: int) -> None: ...

    def status(self) -> PlayerStatus: ...


def vlc_args(output: str, device: str | None = None) -> list[str]:
    """libVLC instance options for a room's configured output."""
    args = ["--no-video", "--quiet", "--no-interact"]
    if output == "default":
        return args
    if output.startswith("afile:"):
        path = output.removeprefix("afile:")
        return [*args, "--aout=afile", f"--audiofile-file={path}", "--audiofile-wav"]
    if output in {"pulse", "alsa", "dummy"}:
        args.append(f"--aout={output}")
        if device and output == "alsa":
            args.append(f"--alsa-audio-device={device}")
        return args
    raise ValueError(f"unknown audio output {output!r}")
