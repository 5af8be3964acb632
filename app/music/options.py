"""How a room's music behaves: loudness matching and Talk, from the service settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from app.domain.loudness import LoudnessTarget
from app.settings import Settings

TALK_DUCK_DB = -12.0
TALK_FADE_S = 1.0
TALK_RESTORE_S = 3.0
TALK_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class MusicOptions:
    # None: no loudness matching (every track at 0 dB).
    loudness: LoudnessTarget | None = field(default_factory=LoudnessTarget)
    # Library name -> its loudness cache file, where it is not the default one in the library folder.
    loudness_caches: Mapping[str, Path] = field(default_factory=dict)
    talk_duck_db: float = TALK_DUCK_DB  # how far Talk turns the music down
    talk_fade_s: float = TALK_FADE_S  # ... over this long
    talk_restore_s: float = TALK_RESTORE_S  # and brings it back over this long
    talk_timeout_s: float = TALK_TIMEOUT_S  # Talk ends by itself after this long
    # Preset id -> the playlist a session plays when none is asked for (ARCROOM_DEFAULT_PLAYLISTS).
    default_playlists: Mapping[str, str] = field(default_factory=dict)
    # With a standby (ARCROOM_INSTANCE): the instance whose box plays, named in the music's state.
    instance: str | None = None


def music_options(settings: Settings) -> MusicOptions:
    """The ARCROOM_LOUDNESS_* and ARCROOM_TALK_* settings (and the instance), for every room's music."""
    target = (
        LoudnessTarget(
            target_lufs=settings.loudness_target_lufs,
            ceiling_dbtp=settings.loudness_ceiling_dbtp,
            max_boost_db=settings.loudness_max_boost_db,
        )
        if settings.loudness_match
        else None
    )
    caches = {"clinic": settings.loudness_cache} if settings.loudness_cache is not None else {}
    return MusicOptions(
        loudness=target,
        loudness_caches=caches,
        talk_duck_db=settings.talk_duck_db,
        talk_fade_s=settings.talk_fade_s,
        talk_restore_s=settings.talk_restore_s,
        talk_timeout_s=settings.talk_timeout_s,
        default_playlists=dict(settings.default_playlists),
        instance=settings.instance,
    )
