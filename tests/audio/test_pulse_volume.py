"""What the room hears, volume included: real libVLC into a private PulseAudio null sink, recorded.

libVLC's volume is cubic: a 0.5-amplitude tone has an RMS of about 11 585 at volume 100 and
11 585 * (v / 100) ** 3 at volume v (audio.md). The test starts its own PulseAudio with a
private XDG_RUNTIME_DIR and stops it afterwards.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.audio import VlcPlayer
from app.domain.clock import SystemClock
from app.music import DeckPair
from tests.audio.media import rms, tone_frames, until, write_wav
from tests.audio.test_decks_vlc import arrival_playlist, plan_from

FULL_SCALE_RMS = 0.5 * 32767 / 2**0.5  # our tone at volume 100
REC_RATE = 44_100
WINDOW = REC_RATE // 10  # 100 ms of stereo frames


def level_at(volume_pct: float) -> float:
    return FULL_SCALE_RMS * (volume_pct / 100) ** 3


class Pulse:
    """A private PulseAudio with one null sink, "room", and a recorder on its monitor."""

    def __init__(self, workdir: Path) -> None:
        for tool in ("pulseaudio", "parec", "pactl"):
            if shutil.which(tool) is None:
                raise RuntimeError(
                    f"{tool} is not installed: run ./dev test, or apt-get install pulseaudio pulseaudio-utils"
                )
        self.runtime_dir = workdir / "xdg"
        self.runtime_dir.mkdir(mode=0o700)
        self.env = {
            **os.environ,
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "PULSE_SERVER": f"unix:{self.runtime_dir}/pulse/native",
        }
        self.log = (workdir / "pulseaudio.log").open("wb")
        self.server = subprocess.Popen(
            [
                "pulseaudio",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "-n",
                "--log-target=stderr",
                "--load=module-null-sink sink_name=room",
                "--load=module-native-protocol-unix",
            ],
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )
        self.recording = workdir / "room.raw"
        self.recorder: subprocess.Popen[bytes] | None = None
        deadline = time.monotonic() + 10
        while subprocess.run(["pactl", "info"], env=self.env, capture_output=True).returncode != 0:
            if self.server.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"PulseAudio did not start; see {workdir / 'pulseaudio.log'}")
            time.sleep(0.05)

    def record(self) -> None:
        with self.recording.open("wb") as out:
            self.recorder = subprocess.Popen(
                ["parec", "-d", "room.monitor", "--raw", "--format=s16le", f"--rate={REC_RATE}", "--channels=2"],
                env=self.env,
                stdout=out,
                stderr=subprocess.DEVNULL,
            )

    def levels(self) -> list[float]:
        """RMS of the left channel, per 100 ms, of what was recorded so far."""
        samples = array.array("h")
        data = self.recording.read_bytes()
        samples.frombytes(data[: len(data) // 4 * 4])
        if sys.byteorder == "big":
            samples.byteswap()
        left = samples[0::2]
        return [rms(left[i : i + WINDOW]) for i in range(0, len(left) - WINDOW + 1, WINDOW)]

    def stop(self) -> None:
        for process in (self.recorder, self.server):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.log.close()


@pytest.fixture
def pulse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pulse]:
    server = Pulse(tmp_path)
    # libVLC's pulse output reads these from this process's environment when it connects.
    monkeypatch.setenv("XDG_RUNTIME_DIR", server.env["XDG_RUNTIME_DIR"])
    monkeypatch.setenv("PULSE_SERVER", server.env["PULSE_SERVER"])
    yield server
    server.stop()


@pytest.fixture
async def room(pulse: Pulse, tmp_path: Path) -> AsyncIterator[DeckPair]:
    library = tmp_path / "library"
    library.mkdir()
    write_wav(library / "tone.wav", tone_frames(40, 440))
    decks = (VlcPlayer("pulse", name="a"), VlcPlayer("pulse", name="b"))
    music = DeckPair(
        "pulse",
        decks,
        {"demo": library},
        SystemClock(),
        ceiling_pct=50,
        volume_pct=20,
        on_event=lambda kind, detail: None,
    )
    await music.start()
    task = asyncio.create_task(music.run())
    yield music
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await music.close()


async def test_a_volume_ramp_changes_the_level_step_by_step_and_never_exceeds_the_ceiling(
    pulse: Pulse, room: DeckPair
) -> None:
    pulse.record()
    playlist = arrival_playlist(("tone.wav", 40))
    now = time.time()
    await room.follow(plan_from(playlist, now, now), playlist)  # fades in to 20 % over 3 s
    await until(lambda: len(pulse.levels()) > 40, "4 s of recording")
    await asyncio.sleep(0.5)
    before = len(pulse.levels())
    await room.set_volume(90, ramp_s=3.0)  # the ceiling is 50: it ramps to 50, over 3 s
    await asyncio.sleep(4.5)
    await room.follow(None, None)
    await asyncio.sleep(0.3)
    levels = pulse.levels()

    low, high = level_at(20), level_at(50)  # about 93 and 1448
    steady = levels[before - 8 : before - 2]
    assert all(0.8 * low < v < 1.25 * low for v in steady), f"before the ramp: {steady}"
    assert max(levels) <= 1.15 * high, f"louder than the ceiling allows: {max(levels):.0f} > {high:.0f}"
    ramp = [v for v in levels[before:] if 1.3 * low < v < 0.9 * high]
    # Step by step: over 3 s of 100 ms windows the level rises through many distinct values,
    # evenly in dB (libVLC's cubic scale would make a linear-percent ramp crawl, then leap).
    assert len(ramp) >= 15, f"only {len(ramp)} windows between the levels: {levels[before:]}"
    assert ramp == sorted(ramp)
    assert len({round(v) for v in ramp}) >= 12
    plateau = [v for v in levels[before + 35 : before + 44]]
    assert all(0.85 * high < v <= 1.15 * high for v in plateau), f"after the ramp: {plateau}"
