"""The room's player on real libVLC: what it writes, how it fails, and the contract it shares with FakePlayer."""

from __future__ import annotations

import array
import asyncio
import itertools
import math
import sys
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from app.audio import AudioUnavailable, FakePlayer, Player, VlcPlayer, vlc_args
from app.audio.vlc_player import import_vlc

RATE = 44_100
TONE_HZ = 440
AMPLITUDE = 0.5
WAIT_S = 15
WAV_HEADER = 44  # RIFF + fmt + data chunk headers, as libVLC's afile writes them


def tone_frames(seconds: float) -> bytes:
    """Stereo, 44.1 kHz, 16-bit: a steady 440 Hz sine at half scale."""
    samples = array.array("h")
    for i in range(int(RATE * seconds)):
        v = int(AMPLITUDE * 32767 * math.sin(2 * math.pi * TONE_HZ * i / RATE))
        samples.extend((v, v))
    return samples.tobytes()


def write_wav(path: Path, *parts: bytes) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        for frames in parts:
            w.writeframes(frames)
    return path


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Long enough that playback cannot end by itself while a test is watching it.
    return write_wav(tmp_path_factory.mktemp("media") / "tone.wav", tone_frames(20))


def size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


async def until(condition: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(WAIT_S):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"still waiting for: {what}") from None


def rms(samples: array.array[int]) -> float:
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


async def test_vlc_writes_what_it_plays_and_stops_writing_while_paused(tone: Path, tmp_path: Path) -> None:
    out = tmp_path / "room" / "out.wav"  # the folder does not exist yet: the player creates it
    player = VlcPlayer(output=f"afile:{out}", name="test")
    await player.start()
    try:
        await player.play(str(tone))
        assert player.status().media == str(tone)
        # About one second of sound, at least, beyond the header.
        await until(lambda: size(out) > WAV_HEADER + RATE * 4, "the output file to grow")
        await until(
            lambda: player.status().state == "playing" and player.status().position_ms > 0, "the position to advance"
        )

        await player.pause()
        await until(lambda: player.status().state == "paused", "state paused")
        await asyncio.sleep(1.5)  # afile writes ahead of the position: let what was buffered land
        settled = size(out)
        await asyncio.sleep(0.5)
        assert size(out) == settled, "the output kept growing while paused"

        await player.resume()
        await until(lambda: size(out) > settled, "the output to grow again after resume")
        assert player.status().state == "playing"
    finally:
        await player.close()

    assert player.status().state == "stopped"
    with wave.open(str(out), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, RATE)
        frames = w.readframes(w.getnframes())
    samples = array.array("h")
    samples.frombytes(frames)
    assert len(samples) > RATE * 2  # more than a second of stereo sound
    # A half-scale sine has an RMS of 0.5 * 32767 / sqrt(2), about 11 585; silence has 0.
    level = rms(samples)
    assert 8_000 < level < 15_000, f"RMS {level:.0f}: not the tone that was played"
    # And it is the tone, not any noise: a 440 Hz sine crosses zero 880 times a second.
    left = samples[0::2]
    crossings = sum(1 for a, b in itertools.pairwise(left) if (a < 0) != (b < 0))
    assert 0.9 * 2 * TONE_HZ < crossings / (len(left) / RATE) < 1.1 * 2 * TONE_HZ


async def test_playback_can_start_part_way_into_the_track(tmp_path: Path) -> None:
    """start_ms resumes a phase's music where it was: after 2 s of silence, sound at once."""
    two_seconds_of_silence = bytes(RATE * 4 * 2)
    track = write_wav(tmp_path / "silence-then-tone.wav", two_seconds_of_silence, tone_frames(10))
    out = tmp_path / "out.wav"
    player = VlcPlayer(output=f"afile:{out}")
    await player.start()
    try:
        await player.play(str(track), start_ms=2_500)
        await until(lambda: size(out) > WAV_HEADER + RATE * 4 // 2, "half a second of output")
        await until(lambda: player.status().position_ms >= 2_500, "the position to start at 2.5 s")
    finally:
        await player.close()
    samples = array.array("h")
    samples.frombytes(out.read_bytes()[WAV_HEADER : WAV_HEADER + RATE * 4 // 2])  # the first 0.25 s
    assert rms(samples) > 5_000, "playback started in the silence, not at start_ms"


def test_a_missing_libvlc_becomes_a_message_naming_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vlc", None)  # what `import vlc` sees without python-vlc
    with pytest.raises(AudioUnavailable, match="libvlc5 vlc-plugin-base"):
        import_vlc()


async def test_starting_a_player_without_libvlc_fails_with_that_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vlc", None)
    player = VlcPlayer(output="dummy")
    try:
        with pytest.raises(AudioUnavailable, match="apt-get install libvlc5 vlc-plugin-base"):
            await player.start()
    finally:
        await player.close()


def test_vlc_args_for_each_output() -> None:
    base = ["--no-video", "--quiet", "--no-interact"]
    assert vlc_args("default") == base
    assert vlc_args("pulse") == [*base, "--aout=pulse"]
    assert vlc_args("alsa") == [*base, "--aout=alsa"]
    assert vlc_args("alsa", "hw:1,0") == [*base, "--aout=alsa", "--alsa-audio-device=hw:1,0"]
    assert vlc_args("dummy") == [*base, "--aout=dummy"]
    assert vlc_args("afile:/var/arcroom/room1.wav") == [
        *base,
        "--aout=afile",
        "--audiofile-file=/var/arcroom/room1.wav",
        "--audiofile-wav",
    ]


@pytest.mark.parametrize("output", ["speakers", "oss", "afile", "Pulse", ""])
def test_vlc_args_rejects_an_unknown_output(output: str) -> None:
    with pytest.raises(ValueError, match="unknown audio output"):
        vlc_args(output)


def test_an_unknown_output_fails_when_the_player_is_made_not_when_it_plays() -> None:
    with pytest.raises(ValueError, match="unknown audio output"):
        VlcPlayer(output="speakers")


# --- one contract, two players ---------------------------------------------------------------


def make_player(kind: str) -> Player:
    return FakePlayer("dummy") if kind == "fake" else VlcPlayer(output="dummy")


@pytest.fixture(params=["fake", "vlc-dummy"])
async def player(request: pytest.FixtureRequest) -> AsyncIterator[Player]:
    p = make_player(request.param)
    yield p
    await p.close()


class TestPlayerContract:
    """What the rest of the service may rely on from any player."""

    async def test_before_start_it_is_stopped(self, player: Player) -> None:
        assert player.status().state == "stopped"
        assert player.status().output == "dummy"

    async def test_play_pause_resume_stop(self, player: Player, tone: Path) -> None:
        await player.start()
        await player.play(str(tone))
        await until(lambda: player.status().state == "playing", "playing")
        assert player.status().media == str(tone)

        await player.pause()
        await until(lambda: player.status().state == "paused", "paused")
        assert player.status().media == str(tone)

        await player.resume()
        await until(lambda: player.status().state == "playing", "playing again")

        await player.stop()
        await until(lambda: player.status().state == "stopped", "stopped")
        assert player.status().media is None

    async def test_volume_is_clamped_to_0_100(self, player: Player, tone: Path) -> None:
        await player.start()
        await player.play(str(tone))
        await player.set_volume(40)
        assert player.status().volume_pct == 40
        await player.set_volume(150)
        assert player.status().volume_pct == 100
        await player.set_volume(-5)
        assert player.status().volume_pct == 0

    async def test_volume_set_before_play_applies_to_play(self, player: Player, tone: Path) -> None:
        await player.start()
        await player.set_volume(30)
        await player.play(str(tone))
        assert player.status().volume_pct == 30

    async def test_pause_and_resume_when_nothing_plays_change_nothing(self, player: Player) -> None:
        await player.start()
        await player.pause()
        assert player.status().state == "stopped"
        await player.resume()
        assert player.status().state == "stopped"

    @pytest.mark.parametrize("kind", ["fake", "vlc-dummy"])
    async def test_close_stops_playback(self, kind: str, tone: Path) -> None:
        player = make_player(kind)
        await player.start()
        await player.play(str(tone))
        await until(lambda: player.status().state == "playing", "playing")
        await player.close()
        assert player.status().state == "stopped"
