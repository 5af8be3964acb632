"""The two decks on fake players and a manual clock: hours of music in milliseconds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from app.audio import FakePlayer
from app.domain.clock import ManualClock
from app.domain.events import EventType
from app.music import DeckPair
from app.music.volume import pct_to_db
from tests.music.conftest import PLAYLISTS, PRESETS, Lead, durations_for, gaps, sounding

Start = Callable[[DeckPair], Awaitable[None]]
HOUR = 3600.0


async def test_a_twelve_hour_lsd_arc_plays_without_dead_air(clock: ManualClock, start: Start) -> None:
    lead = Lead(clock, PRESETS["lsd"], PLAYLISTS["demo_lsd"])
    await start(lead.room)
    begin = clock.now()
    await lead.replan()
    await clock.advance(10 * 60)
    await lead.add(EventType.DOSE_GIVEN)
    await clock.advance(12 * HOUR)
    end = clock.now()

    played = [iv for deck in lead.decks for iv in sounding(deck)]
    assert gaps(played, begin, end) == []
    assert lead.kinds("silence") == [] and lead.kinds("track_failed") == []
    state = lead.state()
    assert state.phase == "closing"
    # Every phase's own music played in it.
    starts = lead.kinds("track_started")
    for span in state.phases:
        assert span.start is not None
        inside = {d["segment"] for at, d in starts if span.start <= at < (span.end or end)}
        assert span.music in inside, span.name
    assert len(starts) > 400
    for deck in lead.decks:
        assert max(pct for _, pct in deck.volume_log()) <= lead.ceiling_pct


def assert_fades_in(deck: FakePlayer, t: float, target: int) -> None:
    """From 0 at t to `target` over 3 s (equal-power: -6 dB a third of the way in)."""
    volumes = [(at, pct) for at, pct in deck.volume_log() if at >= t]
    assert volumes[0] == (t, 0)  # not at full volume at once
    assert deck.volume_at(t + 1.0) < 0.85 * target and deck.volume_at(t + 2.0) < target
    assert deck.volume_at(t + 3.0) == target
    assert [pct for _, pct in volumes] == sorted(pct for _, pct in volumes)


def deck_playing(lead: Lead) -> list[str]:
    return [d.status().media or "" for d in lead.decks if d.status().state == "playing"]


def plays(lead: Lead) -> int:
    return sum(1 for d in lead.decks for c in d.calls if c.startswith(("play", "seek")))


async def to_mid_track(lead: Lead, clock: ManualClock, after_s: float) -> None:
    """Advance by about `after_s`, to a moment when one track plays with at least 30 s before its fade-out."""
    plan = lead.plan()
    t = clock.now() + after_s
    while not (
        (one := plan.at(t))
        and len(one) == 1
        and t + 30 < one[0].end - one[0].fade_out_s
        and t > one[0].start + one[0].fade_in_s + 1
    ):
        t += 1
    await clock.advance_to(t)


async def dosed(clock: ManualClock, start: Start, preset: str = "lsd", after_s: float = 60, **kw: object) -> Lead:
    lead = Lead(clock, PRESETS[preset], PLAYLISTS[f"demo_{preset}"], **kw)  # type: ignore[arg-type]
    await start(lead.room)
    await lead.replan()
    await clock.advance(after_s)
    await lead.add(EventType.DOSE_GIVEN)
    return lead


async def test_a_missing_track_is_reported_and_skipped_within_two_seconds(clock: ManualClock, start: Start) -> None:
    playlist = PLAYLISTS["demo_ketamine_im"]
    lead = Lead(clock, PRESETS["ketamine_im"], playlist, durations=durations_for(playlist, missing={"rising-air.wav"}))
    await start(lead.room)
    begin = clock.now()
    await lead.replan()
    await clock.advance(60)
    plan = await lead.add(EventType.DOSE_GIVEN)
    missing = next(t for t in plan.tracks if t.path == "rising-air.wav")
    await clock.advance(missing.start - clock.now() + 30)

    ((failed_at, failed),) = lead.kinds("track_failed")[:1]
    assert failed["path"] == "rising-air.wav" and "no such file" in failed["error"]
    assert missing.start <= failed_at <= missing.start + 2
    after = [at for at, d in lead.kinds("track_started") if at >= failed_at and d["path"] != "rising-air.wav"]
    assert after and after[0] - failed_at <= 2
    assert gaps([iv for d in lead.decks for iv in sounding(d)], begin, clock.now()) == []
    assert lead.kinds("silence") == []
    assert lead.room.status().state == "playing"


async def test_a_track_that_ends_long_before_its_declared_length_is_skipped(clock: ManualClock, start: Start) -> None:
    playlist = PLAYLISTS["demo_ketamine_im"]
    lead = Lead(
        clock, PRESETS["ketamine_im"], playlist, durations=durations_for(playlist, actual={"threshold.wav": 20.0})
    )  # declared 96 s
    await start(lead.room)
    begin = clock.now()
    await lead.replan()
    await clock.advance(60)
    ((failed_at, failed),) = lead.kinds("track_failed")
    assert failed["path"] == "threshold.wav" and "before its planned end" in failed["error"]
    assert failed_at == begin + 20
    assert [d["path"] for at, d in lead.kinds("track_started") if at == failed_at] == ["first-light.wav"]
    assert all(b - a <= 2 for a, b in gaps([iv for d in lead.decks for iv in sounding(d)], begin, clock.now()))
    assert lead.kinds("silence") == []


async def test_silence_is_reported_when_nothing_replaces_a_failed_track(clock: ManualClock, start: Start) -> None:
    playlist = PLAYLISTS["demo_ketamine_im"]
    lead = Lead(clock, PRESETS["ketamine_im"], playlist, durations=durations_for(playlist, missing={"threshold.wav"}))
    lead.auto_replan = False  # nobody turns the failure into a skip
    await start(lead.room)
    begin = clock.now()
    await lead.replan()
    await clock.advance(10)
    assert [at for at, _ in lead.kinds("track_failed")] == [begin]
    ((at, detail),) = lead.kinds("silence")
    assert at == begin + 2 and detail["since"] == begin
    status = lead.room.status()
    assert status.state == "error" and status.error is not None and "threshold.wav" in status.error


async def test_after_a_restart_the_music_resumes_at_the_planned_position_fading_in(
    clock: ManualClock, start: Start
) -> None:
    lead = await dosed(clock, start)
    await to_mid_track(lead, clock, 25 * 60 + 17.3)
    await lead.room.close()  # the service stops; the session goes on
    await clock.advance(40)

    decks = (
        FakePlayer("a2", clock=clock, durations=lead.durations),
        FakePlayer("b2", clock=clock, durations=lead.durations),
    )
    lead.decks, lead.room = decks, lead.new_room(decks)
    await start(lead.room)
    now = clock.now()
    plan = await lead.replan()
    (planned,) = [t for t in plan.at(now) if t.start <= now - 1]  # mid-track, not in a crossfade
    (deck,) = [d for d in decks if d.history]
    at, what, media, position = deck.history[0]
    assert (at, what) == (now, "play") and media is not None and media.endswith(planned.path)
    assert abs(position - planned.position_at(now)) <= 1.0
    await clock.advance(5)
    assert_fades_in(deck, now, lead.volume_pct)


async def test_a_replan_with_the_same_track_neither_restarts_nor_seeks_it(clock: ManualClock, start: Start) -> None:
    lead = await dosed(clock, start)
    await clock.advance(20 * 60)
    before, started = plays(lead), len(lead.kinds("track_started"))
    await lead.add(EventType.PHASE_EXTENDED, minutes=15)
    await lead.add(EventType.NOTE, text="just a note")
    await lead.replan()
    assert plays(lead) == before and len(lead.kinds("track_started")) == started


async def test_advancing_the_phase_crossfades_into_the_next_segment(clock: ManualClock, start: Start) -> None:
    lead = await dosed(clock, start)
    await clock.advance(20 * 60)
    old = lead.room.status().now_playing
    assert old is not None and old.segment == "onset"
    b = clock.now()
    await lead.add(EventType.PHASE_ADVANCED)
    ((_at, new),) = [(at, d) for at, d in lead.kinds("track_started") if at == b]
    assert new["segment"] == "ascent"
    await clock.advance(5)
    assert len(deck_playing(lead)) == 2  # both sound during the 10 s crossfade
    await clock.advance(6)
    assert len(deck_playing(lead)) == 1
    outgoing = next(d for d in lead.decks if d.status().state != "playing")
    assert outgoing.volume_at(b - 0.01) == lead.volume_pct
    assert pct_to_db(outgoing.volume_at(b + 5)) - pct_to_db(lead.volume_pct) < -1
    assert pct_to_db(outgoing.volume_at(b + 9.95)) - pct_to_db(lead.volume_pct) < -30
    assert outgoing.volume_at(b + 10) == 0 and outgoing.status().state == "stopped"


async def test_the_volume_never_exceeds_the_ceiling(clock: ManualClock, start: Start) -> None:
    lead = await dosed(clock, start, ceiling_pct=50, volume_pct=80)
    assert lead.room.status().volume_pct == 50 and lead.room.status().ceiling_pct == 50
    await clock.advance(10 * 60)
    await lead.room.set_volume(100)
    await clock.advance(20 * 60)
    assert lead.room.status().volume_pct == 50
    for deck in lead.decks:
        log = deck.volume_log()
        assert log and max(pct for _, pct in log) == 50


async def test_a_volume_change_ramps_over_at_least_two_seconds_in_db(clock: ManualClock, start: Start) -> None:
    lead = await dosed(clock, start, volume_pct=60)
    await to_mid_track(lead, clock, 10 * 60)
    (deck,) = [d for d in lead.decks if d.status().state == "playing"]
    t = clock.now()
    await lead.room.set_volume(20, ramp_s=0.5)  # asked for 0.5 s: ramps over 2 s anyway
    await clock.advance(3)
    log = [(at, pct) for at, pct in deck.volume_log() if at >= t]
    assert log[0][0] == t and log[-1] == (t + 2.0, 20)
    assert len({pct for _, pct in log}) >= 10  # step by step, not in one jump
    assert [pct for _, pct in log] == sorted((pct for _, pct in log), reverse=True)
    # Linear in dB: half-way is the geometric mean, sqrt(60 * 20) = 34.6, not the linear 40.
    assert abs(deck.volume_at(t + 1.0) - 34.6) <= 1.5
    assert lead.room.status().volume_pct == 20


async def test_panic_pauses_at_once_and_resume_fades_in_from_the_same_place(clock: ManualClock, start: Start) -> None:
    lead = await dosed(clock, start)
    await to_mid_track(lead, clock, 15 * 60 + 3)
    (deck,) = [d for d in lead.decks if d.status().state == "playing"]
    await lead.pause()
    assert {d.status().state for d in lead.decks if d.status().media} == {"paused"}
    position = deck.status().position_ms
    await clock.advance(10 * 60)
    assert deck.status().position_ms == position
    assert lead.room.status().state == "paused" and lead.kinds("silence") == []
    calls = plays(lead)
    resumed_at = clock.now()
    await lead.resume()
    assert plays(lead) == calls  # resumed, not restarted or sought
    assert deck.status().state == "playing" and deck.status().position_ms == position
    await clock.advance(4)
    assert_fades_in(deck, resumed_at, lead.volume_pct)
    assert lead.room.status().state == "playing"


async def test_a_pause_with_a_fade_stops_once_faded(clock: ManualClock, start: Start) -> None:
    lead = await dosed(clock, start)
    await to_mid_track(lead, clock, 12 * 60)
    (deck,) = [d for d in lead.decks if d.status().state == "playing"]
    t = clock.now()
    pausing = asyncio.ensure_future(lead.pause(fade_s=1.5))
    await clock.advance(0.75)
    assert 0 < deck.status().volume_pct < lead.volume_pct and deck.status().state == "playing"
    await clock.advance(1)
    await pausing
    assert deck.status().state == "paused" and deck.volume_at(t + 1.5) == 0


async def test_a_panic_during_a_pause_fade_pauses_at_once(clock: ManualClock, start: Start) -> None:
    lead = await dosed(clock, start)
    await to_mid_track(lead, clock, 12 * 60)
    (deck,) = [d for d in lead.decks if d.status().state == "playing"]
    fading = asyncio.ensure_future(lead.room.pause(fade_s=2.0))
    await clock.advance(0.5)
    assert deck.status().state == "playing" and lead.room.status().state == "paused"
    t = clock.now()
    await lead.room.pause()  # the panic button: does not wait for the fade
    assert clock.now() == t and deck.status().state == "paused"
    position = deck.status().position_ms
    await clock.advance(2)
    await fading
    assert deck.status().state == "paused" and deck.status().position_ms == position
    assert lead.room.status().paused_since == t
    await lead.room.resume()
    await clock.advance(4)
    assert_fades_in(deck, t + 2, lead.volume_pct)


async def test_a_resume_during_a_pause_fade_brings_the_level_back(clock: ManualClock, start: Start) -> None:
    lead = await dosed(clock, start)
    await to_mid_track(lead, clock, 12 * 60)
    (deck,) = [d for d in lead.decks if d.status().state == "playing"]
    fading = asyncio.ensure_future(lead.room.pause(fade_s=2.0))
    await clock.advance(1)
    t, level = clock.now(), deck.status().volume_pct
    assert 0 < level < lead.volume_pct
    await lead.room.resume()
    await clock.advance(4)
    await fading
    assert deck.status().state == "playing" and deck.status().volume_pct == lead.volume_pct
    after = [pct for at, pct in deck.volume_log() if at >= t]
    assert after[0] == level and after == sorted(after)  # back up from where it was: no dip
    assert lead.room.status().state == "playing"


async def test_a_restart_during_a_pause_stays_paused_until_resumed(clock: ManualClock, start: Start) -> None:
    lead = await dosed(clock, start)
    await to_mid_track(lead, clock, 30 * 60)
    await lead.pause()
    paused_plan = lead.plan()
    assert paused_plan.paused_at == clock.now()
    (before,) = paused_plan.at(clock.now())  # planned as if it went on at once
    await lead.room.close()
    await clock.advance(5 * 60)
    decks = (
        FakePlayer("a2", clock=clock, durations=lead.durations),
        FakePlayer("b2", clock=clock, durations=lead.durations),
    )
    lead.decks, lead.room = decks, lead.new_room(decks)
    await start(lead.room)
    await lead.replan()
    await clock.advance(60)
    assert all(not d.calls for d in decks) and lead.room.status().state == "paused"
    now = clock.now()
    await lead.resume()
    (deck,) = [d for d in decks if d.history]
    at, _what, media, position = deck.history[0]
    assert at == now and media is not None and media.endswith(before.path)
    assert abs(position - before.offset_s) <= 1.0
    await clock.advance(4)
    assert_fades_in(deck, now, lead.volume_pct)


async def test_following_no_plan_fades_out_and_stops(clock: ManualClock, start: Start) -> None:
    lead = await dosed(clock, start)
    await to_mid_track(lead, clock, 5 * 60)
    (deck,) = [d for d in lead.decks if d.status().state == "playing"]
    t = clock.now()
    await lead.room.follow(None, None)
    assert deck.status().state == "playing"
    await clock.advance(1.5)
    assert 0 < deck.status().volume_pct < lead.volume_pct
    await clock.advance(2)
    assert all(d.status().state == "stopped" for d in lead.decks)
    assert deck.volume_at(t + 3.0) == 0
    assert lead.room.status().state == "stopped" and lead.kinds("silence") == []


async def test_status_names_what_plays_and_what_comes_next(clock: ManualClock, start: Start) -> None:
    lead = await dosed(clock, start)
    await to_mid_track(lead, clock, 100)
    plan = lead.plan()
    status = lead.room.status()
    (current,) = plan.at(clock.now())
    assert status.state == "playing" and status.playlist == "demo_lsd"
    assert status.now_playing is not None
    assert (status.now_playing.title, status.now_playing.segment) == (current.title, "onset")
    assert status.now_playing.position_s == current.position_at(clock.now())
    nxt = plan.next_after(clock.now())
    assert nxt is not None and status.next is not None
    assert (status.next.title, status.next.starts_at) == (nxt.title, nxt.start)


async def test_a_pause_without_a_new_plan_meanwhile_goes_on_where_it_was(clock: ManualClock, start: Start) -> None:
    """The caller may re-plan only after the resume: the room shifts its old plan by itself."""
    lead = await dosed(clock, start)
    await to_mid_track(lead, clock, 20 * 60)
    (deck,) = [d for d in lead.decks if d.status().state == "playing"]
    paused_at = clock.now()
    await lead.room.pause()
    position = deck.status().position_ms
    await clock.advance(5 * 60)
    calls = plays(lead)
    resumed_at = clock.now()
    await lead.room.resume()
    await clock.advance(2)
    assert plays(lead) == calls and deck.status().position_ms == position + 2_000
    lead.pauses.append((paused_at, resumed_at))
    plan = await lead.replan()
    assert plays(lead) == calls
    upcoming = plan.next_after(clock.now())
    assert upcoming is not None
    await clock.advance_to(upcoming.start + 1)
    assert [at for at, d in lead.kinds("track_started") if at > resumed_at] == [upcoming.start]
    assert lead.kinds("silence") == [] and lead.kinds("track_failed") == []
