"""Music per client: another playlist mid-session crossfades in at the arc's current phase.

The plan (pure), the decks following it (fakes, manual clock), and what the session's events say
about it (a change made while the music is paused plays when it resumes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from app.domain.clock import ManualClock
from app.domain.events import Event, EventType
from app.domain.music_events import playlist_choices
from app.domain.music_plan import PlaylistChoice, build_plan, build_session_plan
from app.domain.playlists import Playlist
from app.domain.session import SessionInfo, replay
from app.music import DeckPair
from tests.music.conftest import LIBRARY, PLAYLISTS, PRESETS, T0, Lead, durations_for, gaps, one_segment, sounding

Start = Callable[[DeckPair], Awaitable[None]]
PRESET = PRESETS["ketamine_im"]
DEMO = PLAYLISTS["demo_ketamine_im"]
CALM = one_segment(
    PRESET,
    [{"path": "calm-1.wav", "duration_s": 90}, {"path": "calm-2.wav", "duration_s": 70}],
    crossfade_s=6,
).model_copy(update={"id": "calm"})
DOSED_AT, SWITCH_AT = T0 + 60, T0 + 200  # the injection, then the change during onset (60-360 s)


def events(*extra: tuple[float, EventType, dict[str, object]]) -> list[Event]:
    base = [(T0, EventType.STARTED, {"preset": PRESET.id, "playlist": DEMO.id}), (DOSED_AT, EventType.DOSE_GIVEN, {})]
    return [Event(seq=i, at=at, type=t, data=d) for i, (at, t, d) in enumerate([*base, *extra])]


def phases(now: float) -> list:  # type: ignore[type-arg]
    return replay(SessionInfo(id="s", room="r", preset=PRESET), events(), now).phases


def test_the_new_playlist_s_segment_crossfades_in_at_the_change_and_what_played_stays() -> None:
    now = SWITCH_AT
    old = build_plan(DEMO, phases(now), now)
    plan = build_session_plan([PlaylistChoice(T0, DEMO), PlaylistChoice(SWITCH_AT, CALM)], phases(now), now)

    before = [t for t in plan.tracks if t.start < SWITCH_AT]
    assert [(t.path, t.start) for t in before] == [(t.path, t.start) for t in old.tracks if t.start < SWITCH_AT]
    sounding_then = next(t for t in before if t.sounds_at(SWITCH_AT))
    assert sounding_then.end == SWITCH_AT + 6 and sounding_then.fade_out_s == 6  # out over the new crossfade
    first_new = next(t for t in plan.tracks if t.start >= SWITCH_AT)
    assert (first_new.path, first_new.start, first_new.fade_in_s) == ("calm-1.wav", SWITCH_AT, 6)
    assert first_new.segment == first_new.phase == "onset"  # the arc stays where it was
    # Later phases bring the new playlist's own segments, at the arc's own times.
    peak_start = DOSED_AT + 5 * 60
    at_peak = [t for t in plan.tracks if t.start >= peak_start]
    assert at_peak and {t.path for t in at_peak} <= {"calm-1.wav", "calm-2.wav"}
    assert {t.phase for t in at_peak} >= {"peak", "descent"}
    assert all(t.library is None for t in plan.tracks)  # one library: nothing to say


def test_a_change_is_causal_and_a_later_one_replaces_it_from_its_own_time() -> None:
    now = SWITCH_AT + 500
    choices = [PlaylistChoice(T0, DEMO), PlaylistChoice(SWITCH_AT, CALM)]
    early = build_session_plan(choices, phases(SWITCH_AT), SWITCH_AT)
    later = build_session_plan(choices, phases(now), now)
    assert [t for t in later.tracks if t.end <= SWITCH_AT + 6] == [t for t in early.tracks if t.end <= SWITCH_AT + 6]
    back = build_session_plan([*choices, PlaylistChoice(now, DEMO)], phases(now), now)
    before_back = [t for t in back.tracks if t.start < now]
    assert [(t.path, t.start) for t in before_back] == [(t.path, t.start) for t in later.tracks if t.start < now]
    assert all(t.end <= now + 8 for t in before_back)  # out over the demo playlist's 8 s crossfade
    after = [t for t in back.tracks if t.start >= now]
    assert after[0].path == DEMO.segments["peak"].tracks[0].path and after[0].start == now  # peak: 360-1860 s


def test_a_change_while_the_music_is_paused_plays_when_it_resumes() -> None:
    pause, change, resume = T0 + 100, T0 + 150, T0 + 300
    log = events(
        (pause, EventType.AUDIO_PAUSED, {}),
        (change, EventType.PLAYLIST_CHANGED, {"playlist": "calm"}),
    )
    assert playlist_choices(log) == [(T0, DEMO.id)]  # still paused: not yet
    log = events(
        (pause, EventType.AUDIO_PAUSED, {}),
        (change, EventType.PLAYLIST_CHANGED, {"playlist": "calm"}),
        (resume, EventType.AUDIO_RESUMED, {}),
        (resume + 50, EventType.PLAYLIST_CHANGED, {"playlist": DEMO.id}),
    )
    assert playlist_choices(log) == [(T0, DEMO.id), (resume, "calm"), (resume + 50, DEMO.id)]


def test_tracks_of_a_playlist_in_another_library_say_which() -> None:
    clinic: Playlist = CALM.model_copy(update={"library": "clinic"})
    plan = build_session_plan(
        [PlaylistChoice(T0, DEMO), PlaylistChoice(SWITCH_AT, clinic)], phases(SWITCH_AT), SWITCH_AT
    )
    assert {t.library for t in plan.tracks if t.start < SWITCH_AT} == {"demo"}
    assert {t.library for t in plan.tracks if t.start >= SWITCH_AT} == {None}


async def test_the_decks_crossfade_into_the_new_playlist_without_a_gap(clock: ManualClock, start: Start) -> None:
    durations = {**durations_for(DEMO), **durations_for(CALM)}
    lead = Lead(clock, PRESET, DEMO, durations=durations)
    await start(lead.room)
    await lead.replan()
    await clock.advance_to(DOSED_AT)
    await lead.add(EventType.DOSE_GIVEN)
    await clock.advance_to(SWITCH_AT)
    old_deck = next(d for d in lead.decks if d.status().state == "playing")
    plan = build_session_plan(
        [PlaylistChoice(T0, DEMO), PlaylistChoice(SWITCH_AT, CALM)], lead.state().phases, clock.now()
    )
    await lead.room.follow(plan, CALM)
    await clock.advance(10)

    new_deck = next(d for d in lead.decks if d is not old_deck)
    assert new_deck.status().media == str(LIBRARY / "calm-1.wav")
    assert old_deck.status().state == "stopped"
    # Down and up over the same 6 s, from where each was: a crossfade, not a cut or a jump.
    full = lead.volume_pct
    assert 0 < old_deck.volume_at(SWITCH_AT + 3) < full and old_deck.volume_at(SWITCH_AT + 6) == 0
    assert 0 < new_deck.volume_at(SWITCH_AT + 3) < full and new_deck.volume_at(SWITCH_AT + 6) == full
    assert gaps([iv for d in lead.decks for iv in sounding(d)], T0, clock.now()) == []
    assert lead.state().phase == "onset"
    assert lead.room.status().playlist == "calm"


@pytest.mark.parametrize("during", ["a track", "a crossfade"])
def test_no_more_than_two_tracks_ever_sound_at_once(during: str) -> None:
    old = build_plan(DEMO, phases(T0 + 400), T0 + 400)
    crossfade = next(t for t in old.tracks if t.start > DOSED_AT + 30 and t.fade_in_s > 4)
    at = SWITCH_AT if during == "a track" else crossfade.start + 2
    plan = build_session_plan([PlaylistChoice(T0, DEMO), PlaylistChoice(at, CALM)], phases(at + 400), at + 400)
    for t in plan.tracks:
        assert len(plan.at(t.start + 0.01)) <= 2
    first_new = next(t for t in plan.tracks if t.path.startswith("calm"))
    # During a crossfade the new playlist comes in as soon as the track fading out has gone.
    assert first_new.start == (
        at if during == "a track" else next(t.end for t in old.tracks if t.sounds_at(at) and t is not crossfade)
    )
