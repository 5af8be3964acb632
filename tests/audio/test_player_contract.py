"""What the two decks rely on from a player, held for FakePlayer and real libVLC alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.audio import FakePlayer, Player, PlayerEvent, VlcPlayer, deck_outputs
from tests.audio.media import RATE, silence_frames, tone_frames, until, write_wav


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("contract")
    corrupt = folder / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + bytes(range(256)) * 40)
    return {
        "long": write_wav(folder / "long.wav", tone_frames(20, 330)),
        "short": write_wav(folder / "short.wav", tone_frames(0.5, 330)),
        "corrupt": corrupt,
        "missing": folder / "missing.wav",
    }


def make(kind: str) -> Player:
    # check_files: the fake fails on missing and corrupt files and ends tracks, as libVLC does.
    return FakePlayer("dummy", check_files=True) if kind == "fake" else VlcPlayer(output="dummy")


@pytest.fixture(params=["fake", "vlc"])
async def player(request: pytest.FixtureRequest) -> AsyncIterator[Player]:
    p = make(request.param)
    await p.start()
    yield p
    await p.close()


def collect(player: Player) -> list[PlayerEvent]:
    events: list[PlayerEvent] = []
    player.set_listener(events.append)
    return events


async def test_play_at_an_offset_starts_there(player: Player, media: dict[str, Path]) -> None:
    await player.play(str(media["long"]), start_ms=5_000)
    await until(lambda: player.status().state == "playing", "playing")
    assert 5_000 <= player.status().position_ms < 6_500


async def test_seek_moves_the_position(player: Player, media: dict[str, Path]) -> None:
    await player.play(str(media["long"]))
    await until(lambda: player.status().state == "playing", "playing")
    await player.seek(12_000)
    await until(lambda: player.status().position_ms >= 12_000, "the position to reach 12 s")
    assert player.status().position_ms < 13_500


async def test_pause_holds_the_position_and_resume_goes_on_from_it(player: Player, media: dict[str, Path]) -> None:
    await player.play(str(media["long"]), start_ms=2_000)
    await until(lambda: player.status().position_ms > 2_300, "the position to move")
    await player.pause()
    await until(lambda: player.status().state == "paused", "paused")
    held = player.status().position_ms
    await asyncio.sleep(0.4)
    assert player.status().position_ms == held
    await player.resume()
    await until(lambda: player.status().position_ms > held + 200, "the position to move on")
    assert player.status().position_ms < held + 1_500


async def test_a_missing_file_is_reported_as_an_error(player: Player, media: dict[str, Path]) -> None:
    events = collect(player)
    await player.play(str(media["missing"]))
    await until(lambda: bool(events), "an event", timeout_s=2)
    assert [(e.kind, e.media) for e in events] == [("error", str(media["missing"]))]
    assert events[0].error
    assert player.status().state != "playing"


async def test_a_corrupt_file_fails_or_ends_at_once(player: Player, media: dict[str, Path]) -> None:
    events = collect(player)
    await player.play(str(media["corrupt"]))
    await until(lambda: bool(events), "an event", timeout_s=2)
    assert events[0].kind in ("error", "ended") and events[0].media == str(media["corrupt"])
    await until(lambda: player.status().state != "playing", "not playing")


async def test_the_end_of_a_track_is_reported(player: Player, media: dict[str, Path]) -> None:
    events = collect(player)
    await player.play(str(media["short"]))
    await until(lambda: bool(events), "the end", timeout_s=3)
    assert [(e.kind, e.media) for e in events] == [("ended", str(media["short"]))]
    await until(lambda: player.status().state == "stopped", "stopped")


async def test_without_a_listener_events_go_nowhere(player: Player, media: dict[str, Path]) -> None:
    events = collect(player)
    player.set_listener(None)
    await player.play(str(media["missing"]))
    await asyncio.sleep(0.3)
    assert events == []


async def test_a_ramp_moves_the_volume_through_its_points(player: Player, media: dict[str, Path]) -> None:
    await player.play(str(media["long"]))
    await player.ramp_volume([(0.0, 50), (0.2, 35), (0.4, 20)])
    assert player.status().volume_pct == 50  # the first point at once
    await until(lambda: player.status().volume_pct == 35, "the second point")
    await until(lambda: player.status().volume_pct == 20, "the last point")


async def test_a_new_ramp_or_volume_replaces_the_one_in_progress(player: Player, media: dict[str, Path]) -> None:
    await player.play(str(media["long"]))
    await player.ramp_volume([(0.0, 50), (0.3, 10)])
    await player.set_volume(70)
    await player.ramp_volume([(0.0, 60), (0.1, 40)])
    await until(lambda: player.status().volume_pct == 40, "the new ramp's end")
    await asyncio.sleep(0.4)
    assert player.status().volume_pct == 40  # the first ramp's 10 never lands


async def test_a_cued_track_waits_silent_and_goes_on_from_its_position_on_resume(
    player: Player, media: dict[str, Path]
) -> None:
    events = collect(player)
    await player.cue(str(media["long"]), start_ms=3_000)
    await until(lambda: player.status().state == "paused", "cued (paused)")
    await asyncio.sleep(0.5)
    status = player.status()
    assert status.state == "paused" and status.media == str(media["long"])
    assert 3_000 <= status.position_ms < 3_100  # not moving while cued
    await player.resume()
    await until(lambda: player.status().position_ms > 3_300, "the position to move from where it was cued")
    assert player.status().state == "playing" and player.status().position_ms < 4_500
    assert player.status().length_ms == 20_000
    assert events == []


def failing(kind: str) -> Player:
    """A player whose audio output cannot be opened: for libVLC, an ALSA device that does not exist."""
    if kind == "fake":
        return FakePlayer("alsa", check_files=True, output_error='ALSA: cannot open ALSA device "arcroom-none"')
    return VlcPlayer(output="alsa", device="arcroom-no-such-device")


@pytest.mark.parametrize("kind", ["fake", "vlc"])
async def test_an_output_that_cannot_be_opened_is_reported_with_libvlc_s_reason(
    kind: str,
    media: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # No PulseAudio either (libVLC falls back to it when ALSA fails): a socket nothing listens on.
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/no-pulse")
    player = failing(kind)
    await player.start()
    events = collect(player)
    try:
        await player.play(str(media["long"]))
        await until(lambda: bool(events), "the output failure", timeout_s=5)
        await asyncio.sleep(1.6)  # libVLC tries again for every block meanwhile: still one event
        status = player.status()
    finally:
        await player.close()
    assert [(e.kind, e.media) for e in events] == [("output", str(media["long"]))]
    assert events[0].error is not None and "ALSA" in events[0].error and "arcroom-n" in events[0].error
    # libVLC "plays" on into nothing: only output_error says that nothing is heard.
    assert status.state == "playing" and status.output_error == events[0].error
    assert "ALSA lib" not in capfd.readouterr().err  # ALSA's own complaints are kept off stderr


async def test_libvlc_positions_are_interpolated_between_its_coarse_updates(media: dict[str, Path]) -> None:
    player = VlcPlayer(output="dummy")
    await player.start()
    try:
        await player.play(str(media["long"]))
        await until(lambda: player.status().position_ms > 300, "the first time update")
        seen = []
        for _ in range(50):
            seen.append(player.status().position_ms)
            await asyncio.sleep(0.02)
    finally:
        await player.close()
    assert seen == sorted(seen)  # never backwards
    # libVLC reports about every 250-300 ms (4 values a second); interpolated, nearly every read moves.
    assert len(set(seen)) >= 25
    assert 700 <= seen[-1] - seen[0] <= 1_400


def test_the_two_decks_of_an_afile_output_write_two_files() -> None:
    assert deck_outputs("afile:/var/arcroom/room1.wav") == (
        "afile:/var/arcroom/room1.a.wav",
        "afile:/var/arcroom/room1.b.wav",
    )
    assert deck_outputs("afile:out") == ("afile:out.a.wav", "afile:out.b.wav")
    assert deck_outputs("pulse") == ("pulse", "pulse")
    assert deck_outputs("dummy") == ("dummy", "dummy")


def test_the_media_helpers_write_what_they_say() -> None:
    assert len(silence_frames(1)) == RATE * 2 and len(tone_frames(1, 440)) == RATE * 2


async def test_a_volume_ramp_that_fails_is_reported_as_the_track_failing(media: dict[str, Path]) -> None:
    # Nobody awaits a ramp: if libVLC stops taking the volume, the decks must still hear of it.
    player = VlcPlayer(output="dummy")
    await player.start()
    try:
        events = collect(player)
        await player.play(str(media["long"]))
        await until(lambda: player.status().state == "playing", "playing")

        def refuse(volume: int) -> int:
            raise OSError("the sound server went away")

        player._player.audio_set_volume = refuse  # the libVLC call itself fails
        await player.ramp_volume([(0.05, 40), (0.1, 30)])
        await until(lambda: any(e.kind == "error" for e in events), "the failure to be reported")
        [failed] = [e for e in events if e.kind == "error"]
        assert failed.media == str(media["long"]) and "volume ramp failed" in (failed.error or "")
        assert "the sound server went away" in (failed.error or "")
    finally:
        await player.close()


async def test_a_pause_ends_the_volume_ramp_so_nothing_queues_ahead_of_it(
    player: Player, media: dict[str, Path]
) -> None:
    # A panic's pause must not wait behind a fade's volume steps; resume sends a ramp of its own.
    await player.play(str(media["long"]))
    await until(lambda: player.status().state == "playing", "playing")
    await player.set_volume(80)
    await player.ramp_volume([(0.2, 60), (0.4, 40), (0.6, 20)])
    await player.pause()
    await asyncio.sleep(0.8)
    assert player.status().state == "paused" and player.status().volume_pct == 80
