"""What a session's events say about its music: when it stood still, where it skipped, what was chosen."""

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


def playlist_choices(events: Sequence[Event]) -> list[tuple[float, str]]:
    """(since, playlist id) in order: the session's first playlist from its start, then each change.

    A change made while the music is paused takes effect when it resumes (the music comes back
    as the new playlist, rather than the old one resuming for a moment); one made during a pause
    that is still open is not in the list yet.
    """
    if not events or events[0].type is not EventType.STARTED:
        return []
    first = events[0].data.get("playlist")
    choices: list[tuple[float, str]] = [(events[0].at, str(first))] if first else []
    pauses = music_pauses(events)
    for event in events:
        if event.type is EventType.ENDED:
            break
        if event.type is not EventType.PLAYLIST_CHANGED or not event.data.get("playlist"):
            continue
        at: float | None = event.at
        for a, b in pauses:
            if a <= event.at and (b is None or event.at < b):
                at = b
                break
        if at is not None:
            choices.append((max(at, choices[-1][0]) if choices else at, str(event.data["playlist"])))
    return choices


def gentler_requests(events: Sequence[Event]) -> list[float]:
    """Every moment gentler music was asked for (build_plan's `gentler_from`)."""
    return [e.at for e in events if e.type is EventType.MUSIC_GENTLER]


def talk_on(events: Sequence[Event]) -> Event | None:
    """The Talk press in force (not released since), if any."""
    on: Event | None = None
    for event in events:
        if event.type is EventType.TALK:
            on = event if event.data.get("on") else None
        elif event.type is EventType.ENDED:
            return None
    return on
