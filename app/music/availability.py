"""Whether a playlist's files are there: a playlist whose tracks are missing is never chosen by
default, and a session that plays one says so (the dashboard, Home Assistant, /api/health)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.domain.playlists import Playlist


@dataclass(frozen=True)
class Availability:
    playlist: str
    missing: int
    total: int
    where: str  # the library folder, or why there is none

    @property
    def complete(self) -> bool:
        return self.missing == 0

    @property
    def unplayable(self) -> bool:
        """Most of it cannot play: the music has failed, not merely skips a track."""
        return self.missing * 2 >= self.total > 0

    def describe(self) -> str:
        return f"{self.missing} of {self.total} tracks of playlist {self.playlist!r} missing {self.where}"


def availability(playlist: Playlist, libraries: Mapping[str, Path]) -> Availability:
    """Count the tracks whose file is not in their library (URLs are taken as there)."""
    tracks = [t for segment in playlist.segments.values() for t in segment.tracks]
    folder = libraries.get(playlist.library)
    setting = " (ARCROOM_MUSIC_LIBRARY)" if playlist.library == "clinic" else ""
    if folder is None:
        where = f"(the {playlist.library!r} music library is not configured{setting})"
        return Availability(playlist.id, sum(not t.is_url for t in tracks), len(tracks), where)
    if not folder.is_dir():
        where = f"(the {playlist.library!r} music library {folder} is not a folder{setting})"
        return Availability(playlist.id, sum(not t.is_url for t in tracks), len(tracks), where)
    missing = sum(not t.is_url and not (folder / t.path).is_file() for t in tracks)
    return Availability(playlist.id, missing, len(tracks), f"in {folder}")
