"""Honest audio status: an output that fails, a library that is missing, a file that cannot be played.

Each is shown in the status with its reason (not "playing"), skips nothing that is not the
track's fault, is tried again at a bounded rate, and is logged once and then at a bounded rate.
Fake players and a manual clock: hours of failures in milliseconds. The same output failure
on real libVLC is in tests/audio/test_player_contract.py.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from app.domain.clock import ManualClock
from app.mqtt.discovery import AUDIO_STATES
from app.music import DeckPair
from app.music.decks import MAX_FAILURES_IN_A_ROW
from app.music.problems import REPEAT_INTERVAL_S
from tests.music.conftest import PLAYLISTS, PRESETS, Lead, durations_for

Start = Callable[[DeckPair], Awaitable[None]]
HOUR = 3600.0
ALSA = 'ALSA: cannot open ALSA device "default": No such file or directory'


def warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


def plays(lead: Lead) -> int:
    return sum(1 for d in lead.decks for c in d.calls if c.startswith("play"))


async def test_a_failed_output_is_an_error_with_its_reason_and_skips_nothing(
    clock: ManualClock, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "app.music")
    lead = Lead(clock, PRESETS["ketamine_im"], PLAYLISTS["demo_ketamine_im"])
    for deck in lead.decks:
        deck.fail_output(ALSA)
    await start(lead.room)
    await lead.replan()
    await clock.advance(1)

    status = lead.room.status()
    assert status.state == "error"
    assert status.error == f"no audio output (a): {ALSA}"
    assert status.now_playing is None  # nothing is heard: nothing is shown as playing
    assert all(d.status().state == "stopped" for d in lead.decks)  # not left "playing" into nothing
    assert lead.kinds("track_failed") == []  # the tracks are fine: none is skipped

    # Tried again with a backoff (5 s, doubling up to 60 s): half an hour is about 35 tries, not thousands.
    await clock.advance(HOUR / 2)
    assert 25 <= plays(lead) <= 40
    assert lead.kinds("track_failed") == []
    said = warnings(caplog, "no audio output")
    # Once, then at most once per 10 minutes, saying how often it happened meanwhile.
    assert said[0] == f"music one: no audio output (a): {ALSA}; trying again in 5 s"
    assert 2 <= len(said) <= 1 + HOUR / 2 / REPEAT_INTERVAL_S
    assert "more time(s) in the last 10 min" in said[1]
    assert len(lead.kinds("silence")) == 1  # said once while it lasts
    assert lead.room.status().state == "error"

    # The output comes back: the next try plays, at the planned position, and the log says so once.
    for deck in lead.decks:
        deck.fail_output(None)
    await clock.advance(61)
    status = lead.room.status()
    assert status.state == "playing" and status.error is None and status.now_playing is not None
    assert any("the audio output works again" in r.getMessage() for r in caplog.records)
    at, started = lead.kinds("track_started")[-1]
    planned = next(t for t in lead.plan().at(at) if t.path == started["path"])
    assert started["position_s"] == pytest.approx(planned.position_at(at))  # where the plan is


async def test_a_missing_library_is_an_error_and_is_tried_again_until_it_is_back(
    clock: ManualClock, start: Start, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    playlist = PLAYLISTS["demo_ketamine_im"]
    unplugged = tmp_path / "usb-disk" / "music"
    lead = Lead(clock, PRESETS["ketamine_im"], playlist, library=unplugged)
    await start(lead.room)
    await lead.replan()
    await clock.advance(HOUR)

    status = lead.room.status()
    assert status.state == "error"
    assert status.error == f"the 'demo' music library is missing: {unplugged} is not a folder"
    assert plays(lead) == 0 and lead.kinds("track_failed") == []  # no file was tried, none skipped
    assert 1 <= len(warnings(caplog, "music library is missing")) <= 1 + HOUR / REPEAT_INTERVAL_S

    unplugged.mkdir(parents=True)  # plugged in again
    await clock.advance(11)
    assert lead.room.status().state == "playing"
    assert lead.kinds("track_failed") == []


async def test_a_broken_file_in_a_looping_segment_is_logged_once_then_at_a_bounded_rate(
    clock: ManualClock, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    playlist = PLAYLISTS["demo_ketamine_im"]  # arrival loops threshold and first-light
    lead = Lead(clock, PRESETS["ketamine_im"], playlist, durations=durations_for(playlist, missing={"first-light.wav"}))
    await start(lead.room)
    await lead.replan()
    await clock.advance(2 * HOUR)  # arrival is open-ended: the loop comes round about 70 times

    failed = lead.kinds("track_failed")
    assert len(failed) > 50  # each time it is skipped (and recorded), within 2 s
    said = warnings(caplog, "first-light.wav failed")
    assert said[0].endswith("first-light.wav failed: no such file: " + str(lead.library / "first-light.wav"))
    assert len(said) <= 1 + 2 * HOUR / REPEAT_INTERVAL_S
    assert lead.room.status().state == "playing"  # the other track plays


async def test_tracks_that_all_fail_are_not_skipped_through_at_the_speed_of_the_decks(
    clock: ManualClock, start: Start
) -> None:
    lead = Lead(clock, PRESETS["ketamine_im"], PLAYLISTS["demo_ketamine_im"], durations={})  # every file missing
    await start(lead.room)
    await lead.replan()
    await clock.advance(HOUR)
    failed = lead.kinds("track_failed")
    # Five in a row, then one try a minute: bounded, however long it lasts.
    assert MAX_FAILURES_IN_A_ROW <= len(failed) <= MAX_FAILURES_IN_A_ROW + 61
    status = lead.room.status()
    assert status.state == "error" and status.error is not None
    assert "tracks in a row could not be played" in status.error


async def test_after_the_session_the_music_is_stopping_not_playing_then_stopped(
    clock: ManualClock, start: Start
) -> None:
    lead = Lead(clock, PRESETS["ketamine_im"], PLAYLISTS["demo_ketamine_im"])
    await start(lead.room)
    await lead.replan()
    await clock.advance(30)
    assert lead.room.status().state == "playing"
    await lead.room.follow(None, None)  # the session ended
    status = lead.room.status()
    assert status.state == "stopping" and status.next is None and status.playlist is None
    # Home Assistant's Music sensor is an enum: a value missing from its options is rejected.
    assert status.state in AUDIO_STATES
    await clock.advance(3.1)
    status = lead.room.status()
    assert status.state == "stopped" and status.now_playing is None
    assert status.state in AUDIO_STATES
