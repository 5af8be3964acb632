"""What level each deck plays at: the room volume, the fade, the track's loudness gain and Talk, in dB.

Fake players and a manual clock: the volumes the decks are given, at the moment they are given.
What these volumes sound like is measured on real libVLC in tests/audio/test_pulse_music.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from app.domain.clock import ManualClock
from app.music import DeckPair
from app.music.volume import attenuated_pct, deck_volume_pct, pct_to_db
from tests.music.conftest import PRESETS, Lead, one_segment

Start = Callable[[DeckPair], Awaitable[None]]
PRESET = PRESETS["ketamine_im"]
TRACKS = [
    {"path": "loud.wav", "duration_s": 60},
    {"path": "quiet.wav", "duration_s": 60},
    {"path": "quietest.wav", "duration_s": 60},
]


def playing_volume(lead: Lead) -> int:
    """The volume of the deck playing (one at a time here, between crossfades)."""
    (volume,) = [d.volume_at(lead.clock.now()) for d in lead.decks if d.status().state == "playing"]
    return volume


async def test_each_track_plays_at_its_loudness_gain_never_above_the_ceiling(clock: ManualClock, start: Start) -> None:
    playlist = one_segment(PRESET, TRACKS, crossfade_s=4)
    lead = Lead(clock, PRESET, playlist, volume_pct=40, ceiling_pct=70)
    lead.gains = {"loud.wav": -6.0, "quiet.wav": 10.0, "quietest.wav": 30.0}
    await start(lead.room)
    t0 = clock.now()
    await lead.replan()

    await clock.advance_to(t0 + 30)
    loud = playing_volume(lead)
    assert loud == round(deck_volume_pct(40, 1.0, -6.0, 70)) == 32
    await clock.advance_to(t0 + 90)
    quiet = playing_volume(lead)
    assert quiet == round(deck_volume_pct(40, 1.0, 10.0, 70)) == 59
    status = lead.room.status()
    assert status.now_playing is not None and status.now_playing.gain_db == 10.0
    # 16 dB apart, as their gains are: what the room hears of the two is the same loudness.
    assert pct_to_db(quiet) - pct_to_db(loud) == pytest.approx(16, abs=0.6)
    await clock.advance_to(t0 + 150)
    assert playing_volume(lead) == 70  # +30 dB would be far above the ceiling: held at it
    for deck in lead.decks:
        assert max(pct for _, pct in deck.volume_log()) <= 70


async def test_a_new_measurement_applies_from_the_next_track_never_mid_track(clock: ManualClock, start: Start) -> None:
    playlist = one_segment(PRESET, TRACKS[:2], crossfade_s=4)
    lead = Lead(clock, PRESET, playlist, volume_pct=40)
    await start(lead.room)
    t0 = clock.now()
    await lead.replan()
    await clock.advance_to(t0 + 20)
    before = playing_volume(lead)
    lead.gains = {"loud.wav": -6.0, "quiet.wav": -6.0}  # a library scan finished meanwhile
    await lead.replan()
    await clock.advance(5)
    assert playing_volume(lead) == before  # no jump in the track that plays
    await clock.advance_to(t0 + 80)
    assert playing_volume(lead) == round(deck_volume_pct(40, 1.0, -6.0, 70))


async def test_talk_ducks_by_its_db_over_its_time_and_comes_back(clock: ManualClock, start: Start) -> None:
    playlist = one_segment(PRESET, TRACKS, crossfade_s=4)
    lead = Lead(clock, PRESET, playlist, volume_pct=50)
    await start(lead.room)
    t0 = clock.now()
    await lead.replan()
    await clock.advance_to(t0 + 10)
    deck = next(d for d in lead.decks if d.status().state == "playing")
    assert deck.volume_at(clock.now()) == 50

    pressed = clock.now()
    await lead.room.duck(-12.0, 1.0)
    await clock.advance(1.0)
    down = [deck.volume_at(pressed + k / 10) for k in range(11)]
    assert down == sorted(down, reverse=True) and len(set(down)) >= 6  # step by step over 1 s, not a cut
    assert down[-1] == round(attenuated_pct(50, -12.0)) == 32
    assert pct_to_db(down[-1]) - pct_to_db(50) == pytest.approx(-12, abs=0.6)
    assert lead.room.status().duck_db == -12.0

    # It stays down, also for the next track (it starts ducked, after its own fade-in).
    await clock.advance_to(t0 + 62)
    nxt = next(d for d in lead.decks if d.status().state == "playing")
    assert nxt is not deck and nxt.volume_at(clock.now()) == 32

    released = clock.now()
    await lead.room.duck(0.0, 3.0)
    await clock.advance(3.0)
    up = [nxt.volume_at(released + k / 10) for k in range(31)]
    assert up == sorted(up) and up[-1] == 50
    assert up[15] < 50  # still on its way back half-way through: ~3 s, not at once
    assert lead.room.status().duck_db == 0.0
    for d in lead.decks:
        assert max(pct for _, pct in d.volume_log()) <= lead.ceiling_pct
