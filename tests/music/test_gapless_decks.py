"""Gapless joins on the decks: the next movement cued ahead and started the moment the one before ends.

Fake players and a manual clock; the gap and overlap heard on real libVLC are measured in
tests/audio/test_pulse_music.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from app.audio import FakePlayer
from app.domain.clock import ManualClock
from app.domain.events import EventType
from app.music import DeckPair
from tests.music.conftest import LIBRARY, PRESETS, Lead, durations_for, one_segment, sounding

Start = Callable[[DeckPair], Awaitable[None]]
PRESET = PRESETS["ketamine_im"]
MOVEMENTS = [
    {"path": "passacaglia.wav", "duration_s": 30},
    {"path": "fugue.wav", "duration_s": 20, "join": "gapless"},
    {"path": "after.wav", "duration_s": 30},
]


def at(player: FakePlayer, what: str, media: str) -> list[float]:
    return [t for t, w, m, _ in player.history if w == what and m == str(LIBRARY / media)]


async def join(clock: ManualClock, start: Start, actual_s: float | None = None) -> tuple[Lead, float]:
    playlist = one_segment(PRESET, MOVEMENTS, crossfade_s=4)
    actual = None if actual_s is None else {"passacaglia.wav": actual_s}
    lead = Lead(clock, PRESET, playlist, durations=durations_for(playlist, actual=actual))
    await start(lead.room)
    plan = await lead.replan()
    first, second = plan.tracks[0], plan.tracks[1]
    assert second.gapless and second.start == first.end and first.fade_out_s == 0 and second.fade_in_s == 0
    await clock.advance_to(second.start + 5)
    return lead, second.start


async def test_the_next_movement_is_cued_ahead_and_starts_exactly_at_the_join(clock: ManualClock, start: Start) -> None:
    lead, planned = await join(clock, start)
    a, b = lead.decks
    assert at(b, "cue", "fugue.wav") == [pytest.approx(planned - 3)]
    assert at(b, "resume", "fugue.wav") == [pytest.approx(planned)]
    assert at(a, "ended", "passacaglia.wav") == [pytest.approx(planned)]  # it ended by itself, not stopped
    # Neither faded: the first at full volume to its last moment, the second at full volume at once.
    full = lead.volume_pct
    assert a.volume_at(planned - 0.05) == full and b.volume_at(planned) == full
    assert [pct for t, pct in b.volume_log() if t < planned] == [0, full]  # silent, then set while cued
    # Back to back: no gap, no overlap.
    (a_played,) = sounding(a)
    b_played = sounding(b)[0]
    assert a_played[1] == pytest.approx(b_played[0]) == pytest.approx(planned)
    (started,) = [d for t, d in lead.kinds("track_started") if d["path"] == "fugue.wav"]
    assert started["gapless"] is True


@pytest.mark.parametrize("actual_s", [30.6, 29.5])
async def test_the_join_follows_the_real_end_of_the_file_before(
    clock: ManualClock, start: Start, actual_s: float
) -> None:
    # The playlist says 30 s; the file is a little longer (or shorter): the fugue starts when it really ends,
    # so the end of the passacaglia is neither cut off nor followed by a silence.
    lead, planned = await join(clock, start, actual_s)
    a, b = lead.decks
    real_end = planned - 30 + actual_s
    assert at(a, "ended", "passacaglia.wav") == [pytest.approx(real_end)]
    assert at(a, "stop", "passacaglia.wav") == []  # not stopped before it ended
    assert at(b, "resume", "fugue.wav") == [pytest.approx(real_end)]
    assert lead.kinds("track_failed") == []
    status = lead.room.status()
    assert status.state == "playing" and status.now_playing is not None and status.now_playing.title == "fugue.wav"


async def test_a_join_that_cannot_be_timed_is_logged_and_starts_as_planned(
    clock: ManualClock, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    playlist = one_segment(PRESET, MOVEMENTS, crossfade_s=4)
    lead = Lead(clock, PRESET, playlist, durations=durations_for(playlist))

    async def broken() -> float | None:
        raise OSError("libVLC did not answer")

    for deck in lead.decks:
        deck.remaining_s = broken  # type: ignore[method-assign]
    await start(lead.room)
    plan = await lead.replan()
    planned = plan.tracks[1].start
    await clock.advance_to(planned + 5)
    b = lead.decks[1]
    assert at(b, "resume", "fugue.wav") == [pytest.approx(planned)]
    assert lead.kinds("track_failed") == []
    assert any(
        "could not time a join" in r.getMessage() and "libVLC did not answer" in r.getMessage() for r in caplog.records
    )


async def test_a_skip_while_cued_drops_the_cue_and_crossfades_as_usual(clock: ManualClock, start: Start) -> None:
    playlist = one_segment(PRESET, MOVEMENTS, crossfade_s=4)
    lead = Lead(clock, PRESET, playlist)
    await start(lead.room)
    plan = await lead.replan()
    await clock.advance_to(plan.tracks[1].start - 2)  # the fugue is cued
    _, b = lead.decks
    assert b.status().state == "paused" and b.status().media == str(LIBRARY / "fugue.wav")
    lead.skips.append(clock.now())
    await lead.add(EventType.NOTE)  # any re-plan: the plan now has the skip
    await clock.advance(10)
    assert at(b, "resume", "fugue.wav") == []  # the cue never sounded
    played = [d["path"] for _, d in lead.kinds("track_started")]
    assert played == ["passacaglia.wav", "fugue.wav"]  # the skip starts the next track in order, faded in
    fugue = next(t for t in lead.plan().tracks if t.path == "fugue.wav")
    assert not fugue.gapless and fugue.fade_in_s > 0
