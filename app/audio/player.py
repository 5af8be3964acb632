"""The player interface every room's audio goes through."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
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
    # The audio output could not be opened for this media: it "plays" (libVLC's clock runs), but
    # nothing reaches the room. The reason is libVLC's own (e.g. the ALSA device that is missing).
    output_error: str | None = None
    length_ms: int | None = None  # the media's real length, once the player knows it


@dataclass(frozen=True)
class PlayerEvent:
    """What a player reports by itself: its media ended, or could not be played."""

    kind: Literal["ended", "error", "output"]  # output: the audio output failed (error says why)
    media: str | None
    error: str | None = None


# Called on the asyncio loop (never on libVLC's threads), so it may act on the player at once.
Listener = Callable[[PlayerEvent], None]
# (seconds from now, volume_pct): a volume ramp, applied by the player on its own time.
RampPoints = Sequence[tuple[float, int]]


class Player(Protocol):
    output: str
    # The last seconds of a track that are already in the sound server's buffer when the player
    # reaches the file's end: volume changes no longer reach them, so fades must be done before.
    drain_s: float

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def play(self, path: str, *, start_ms: int = 0) -> None: ...

    async def cue(self, path: str, *, start_ms: int = 0) -> None:
        """Load the media paused at start_ms, ready to sound at once on resume() (gapless joins)."""
        ...

    async def remaining_s(self) -> float | None:
        """Seconds until the playing media ends, by the player's own clock (None: not known).

        May take a fraction of a second to watch the player's clock: call it ahead of when it is needed."""
        ...

    async def pause(self) -> None: ...

    async def resume(self) -> None: ...

    async def stop(self) -> None: ...

    async def seek(self, position_ms: int) -> None: ...

    async def set_volume(self, volume_pct: int) -> None: ...

    async def ramp_volume(self, points: RampPoints) -> None:
        """Go through the points; replaces any ramp in progress. Points at or before 0 s apply at once."""
        ...

    def set_listener(self, listener: Listener | None) -> None: ...

    def status(self) -> PlayerStatus: ...


def vlc_args(output: str, device: str | None = None) -> list[str]:
    """libVLC instance options for a room's configured output."""
    args = ["--no-video", "--quiet", "--no-interact"]
    if output == "default":
        return args
    if output.startswith("afile:"):
        path = output.removeprefix("afile:")
        return [*args, "--aout=afile", f"--audiofile-file={path}", "--audiofile-wav"]
    if output == "snapcast":
        return args  # the player hands its audio to the room's Snapcast feed (app/audio/pcm_feed.py)
    if output in {"pulse", "alsa", "dummy"}:
        args.append(f"--aout={output}")
        if device and output == "alsa":
            args.append(f"--alsa-audio-device={device}")
        return args
    raise ValueError(f"unknown audio output {output!r}")


def deck_outputs(output: str) -> tuple[str, str]:
    """The outputs of a room's two decks (two players, for crossfades).

    PulseAudio and ALSA mix the two players in the sound server; an `afile:` output cannot be
    shared by two libVLC instances, so each deck writes its own WAV next to the configured
    one: `afile:/x/room.wav` gives `/x/room.a.wav` and `/x/room.b.wav`.
    """
    if output.startswith("afile:"):
        path = Path(output.removeprefix("afile:"))
        suffix = path.suffix or ".wav"
        a, b = (f"afile:{path.with_name(f'{path.stem}.{deck}{suffix}')}" for deck in "ab")
        return a, b
    return output, output
