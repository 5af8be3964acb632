"""What a session's events say about its music: when it stood still, and where it skipped."""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.events import Event, EventType

_PAUSE_STARTS = {EventType.PANIC, EventType.AUDIO_PAUSED}


def music_pauses(events: Sequence[Event]) -> list[tuple[float, float | None]]:
    """Intervals in which the music was paused: from a panic or a pause to the next resume.

    A panic cleared with mode "hold" keeps the music paused: only an `audio_resumed` ends it.
    """
    pauses: list[tuple[float, float | None]] = []
    since: float | None = None
    for event in events:
        if event.type in _PAUSE_STARTS and since is None:
            since = event.at
        elif event.type is EventType.AUDIO_RESUMED and since is not None:
            pauses.append((since, event.at))
            since = None
        elif event.type is EventType.ENDED:
            break
    if since is not None:
        pauses.append((since, None))
    return pauses


def music_skips(events: Sequence[Event]) -> list[float]:
    """Moments a track was skipped by the therapist or failed to play."""
    return [e.at for e in events if e.type in (EventType.TRACK_SKIPPED, EventType.TRACK_FAILED)]


def music_paused(events: Sequence[Event]) -> bool:
    pauses = music_pauses(events)
    return bool(pauses) and pauses[-1][1] is None
