"""Reading a media file's length with libVLC's parser (for `arcroom playlists check`)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from app.audio.player import DEBIAN_PACKAGES, AudioUnavailable
from app.audio.vlc_player import import_vlc


@dataclass(frozen=True)
class Probe:
    duration_s: float | None  # None: could not be read
    error: str | None = None


class MediaProber:
    """One libVLC instance that parses files one after another; blocking, so call it off the loop."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self._vlc = import_vlc()
        self._timeout_s = timeout_s
        self._instance: Any = self._vlc.Instance(["--no-video", "--quiet", "--no-interact", "--aout=dummy"])
        if self._instance is None:
            raise AudioUnavailable(
                f"libVLC started without its plugins. Install them with: sudo apt-get install {DEBIAN_PACKAGES}"
            )

    def probe(self, path: str) -> Probe:
        vlc = self._vlc
        is_url = "://" in path
        if not is_url:
            if not os.path.exists(path):
                return Probe(None, "missing")
            if not os.access(path, os.R_OK):
                return Probe(None, "not readable (permissions)")
        media = self._instance.media_new(path) if is_url else self._instance.media_new_path(path)
        try:
            flag = vlc.MediaParseFlag.network if is_url else vlc.MediaParseFlag.local
            media.parse_with_options(flag, int(self._timeout_s * 1000))
            deadline = time.monotonic() + self._timeout_s + 1
            status = media.get_parsed_status()
            while status == 0 and time.monotonic() < deadline:  # 0: not parsed yet
                time.sleep(0.01)
                status = media.get_parsed_status()
            if status != vlc.MediaParsedStatus.done:
                return Probe(None, f"libVLC could not parse it ({status})")
            duration_ms = media.get_duration()
            if duration_ms <= 0:
                return Probe(None, "no audio length (corrupt, or not an audio file)")
            return Probe(duration_ms / 1000)
        finally:
            media.release()

    def close(self) -> None:
        if self._instance is not None:
            self._instance.release()
            self._instance = None

    def __enter__(self) -> MediaProber:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
