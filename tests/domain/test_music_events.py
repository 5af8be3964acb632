"""Pauses and skips read from a session's events."""

from __future__ import annotations

from app.domain.events import Event, EventType
from app.domain.music_events import music_paused, music_pauses, music_skips


def log(*items: tuple[float, EventType]) -> list[Event]:
    return [Event(seq=i, at=at, type=t) for i, (at, t) in enumerate(items)]


def test_a_panic_pauses_the_music_until_it_is_resumed_even_through_a_hold() -> None:
    events = log(
        (0, EventType.STARTED),
        (10, EventType.PANIC),
        (20, EventType.PANIC_CLEARED),
        (20, EventType.HOLD),
        (50, EventType.RESUME),
        (50, EventType.AUDIO_RESUMED),
        (70, EventType.AUDIO_PAUSED),
        (75, EventType.AUDIO_PAUSED),
    )
    assert music_pauses(events) == [(10, 50), (70, None)]
    assert music_paused(events)


def test_skips_and_failures_are_skips() -> None:
    events = log(
        (0, EventType.STARTED), (5, EventType.TRACK_SKIPPED), (9, EventType.NOTE), (12, EventType.TRACK_FAILED)
    )
    assert music_skips(events) == [5, 12]
    assert not music_paused(events)
