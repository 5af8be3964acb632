"""The Snapcast feed's mixing, on numbers: each deck's blocks played when due, at the volume of now."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from app.audio.pcm_feed import (
    CHUNK_FRAMES,
    CHUNK_US,
    FADE_IN_CHUNKS,
    LEAD_IN_CHUNKS,
    RATE,
    DeckTap,
    PcmFeed,
    monotonic_us,
    volume_gain,
)
from app.audio.snapcast_control import SILENT_DB, player_db, player_percent

CHUNK_BYTES = CHUNK_FRAMES * 2 * 2


def block(value: int, frames: int) -> np.ndarray:
    return np.full((frames, 2), value, dtype=np.int16)


def mixed(*taps: DeckTap, start_us: int) -> np.ndarray:
    out = np.zeros((CHUNK_FRAMES, 2), dtype=np.float32)
    for tap in taps:
        tap.mix_into(out, start_us)
    return out


def test_blocks_play_when_due_back_to_back_and_two_decks_add_up() -> None:
    a, b = DeckTap("a"), DeckTap("b")
    a.set_volume(100)
    b.set_volume(50)
    # libVLC hands blocks over early; 1024 frames each, stamped back to back (rounded to the microsecond).
    for i in range(4):
        a.play(block(1000, 1024), 1_000_000 + i * 1024 * 1_000_000 // RATE)
    b.play(block(1000, 4096), 1_000_000 + CHUNK_US)  # starts one chunk later
    assert not mixed(a, b, start_us=1_000_000 - CHUNK_US).any()  # nothing due yet
    first = mixed(a, b, start_us=1_000_000)
    assert (first == 1000).all()
    second = mixed(a, b, start_us=1_000_000 + CHUNK_US)
    assert np.allclose(second, 1000 + 1000 * volume_gain(50))  # 50 % is libVLC's -18 dB
    assert a.frames_played == 2 * CHUNK_FRAMES  # no frame lost or doubled at the block joins


def test_a_pause_silences_at_once_and_a_resume_plays_on_from_where_it_was() -> None:
    tap = DeckTap("a")
    tap.set_volume(100)
    tap.play(block(500, 4800), 0)  # 100 ms
    mixed(tap, start_us=0)
    tap.pause(CHUNK_US)
    assert not mixed(tap, start_us=CHUNK_US).any()
    tap.resume(CHUNK_US + 5_000_000)  # five seconds later: what was queued is due that much later
    assert (mixed(tap, start_us=CHUNK_US + 5_000_000) == 500).all()
    assert tap.frames_played == 2 * CHUNK_FRAMES


def test_overdue_audio_is_dropped_not_played_late_and_a_flush_empties_the_deck() -> None:
    tap = DeckTap("a")
    tap.set_volume(100)
    tap.play(block(700, 960), 0)
    tap.play(block(900, 960), CHUNK_US)
    assert (mixed(tap, start_us=CHUNK_US) == 900).all()  # the first came too late: skipped
    tap.play(block(300, 960), 2 * CHUNK_US)
    tap.flush()  # a seek or a stop
    assert not mixed(tap, start_us=2 * CHUNK_US).any()


def test_the_volume_applies_from_the_next_chunk_not_when_libvlc_decoded_it() -> None:
    tap = DeckTap("a")
    tap.set_volume(100)
    tap.play(block(1000, 1920), 0)
    assert (mixed(tap, start_us=0) == 1000).all()
    tap.set_volume(0)
    assert not mixed(tap, start_us=CHUNK_US).any()


def test_a_source_connected_anew_gets_a_lead_in_of_silence_then_the_music_comes_in_gently() -> None:
    """After a takeover (or a snapserver restart) the player re-synchronises on the resumed stream and
    drops a moment of it: that falls in the lead-in, and the music under way comes in without a step."""
    chunks = LEAD_IN_CHUNKS + FADE_IN_CHUNKS + 10
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(5)
        feed = PcmFeed("one", f"tcp://127.0.0.1:{server.getsockname()[1]}")
        feed.taps[0].set_volume(100)
        feed.taps[0].play(block(8000, RATE * 4), monotonic_us())  # music under way: a steady tone
        feed.start()
        try:
            connection, _ = server.accept()
            with connection:
                connection.settimeout(5)
                data = b""
                while len(data) < chunks * CHUNK_BYTES:
                    data += connection.recv(65536)
        finally:
            feed.close()
    levels = np.abs(np.frombuffer(data[: chunks * CHUNK_BYTES], dtype=np.int16).reshape(chunks, -1)).mean(axis=1)
    assert not levels[:LEAD_IN_CHUNKS].any()
    ramp = levels[LEAD_IN_CHUNKS : LEAD_IN_CHUNKS + FADE_IN_CHUNKS]
    assert (np.diff(ramp) > 0).all() and ramp[0] < 8000 / 10
    assert (levels[LEAD_IN_CHUNKS + FADE_IN_CHUNKS :] == 8000).all()


def test_a_player_volume_reads_back_as_the_db_it_was_set_for() -> None:
    for db in (0.0, -3.0, -12.0, -24.0, -40.0):
        assert player_db(player_percent(db)) == pytest.approx(db, abs=1.0)  # whole percents: coarse near -40
    assert player_db(0) == SILENT_DB
