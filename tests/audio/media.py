"""Test media and measurements: WAVs made here, and what a written or recorded WAV contains."""

from __future__ import annotations

import array
import asyncio
import itertools
import math
import sys
import wave
from collections.abc import Callable
from pathlib import Path

RATE = 22_050  # mono, 16-bit
WAV_HEADER = 44


def tone_frames(seconds: float, hz: float, amplitude: float = 0.5, rate: int = RATE) -> bytes:
    step = 2 * math.pi * hz / rate
    scale = amplitude * 32767
    return _le(array.array("h", (int(scale * math.sin(step * i)) for i in range(int(rate * seconds)))))


def stepped_frames(seconds: int, base_hz: float, step_hz: float, rate: int = RATE) -> bytes:
    """A tone whose pitch says where in the file it is: second k is base_hz + k * step_hz."""
    samples = array.array("h")
    phase = 0.0
    for k in range(seconds):
        step = 2 * math.pi * (base_hz + k * step_hz) / rate
        for _ in range(rate):
            samples.append(int(0.5 * 32767 * math.sin(phase)))
            phase += step
    return _le(samples)


def silence_frames(seconds: float, rate: int = RATE) -> bytes:
    return bytes(int(rate * seconds) * 2)


def _le(samples: array.array[int]) -> bytes:
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def write_wav(path: Path, *parts: bytes, rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        for frames in parts:
            w.writeframes(frames)
    return path


def read_wav(path: Path, channels: int = 1, rate: int = RATE) -> tuple[array.array[int], int, int]:
    """(samples of the first channel, rate, channels) of a WAV that may still be being written.

    libVLC's afile fills in its header only when it closes the file, so an open one is read
    raw after the 44-byte header, in the format of what it plays (its input's: our test media).
    """
    data = path.read_bytes()
    if data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt ":  # canonical header: format fields at fixed places
        channels = int.from_bytes(data[22:24], "little")
        rate = int.from_bytes(data[24:28], "little")
    samples = array.array("h")
    body = data[WAV_HEADER:]
    samples.frombytes(body[: len(body) // 2 * 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return array.array("h", samples[0::channels]), rate, channels


def rms(samples: array.array[int] | list[int]) -> float:
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if len(samples) else 0.0


def pitch_hz(samples: array.array[int] | list[int], rate: int) -> float:
    """Frequency of a clean tone from its zero crossings."""
    crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
    return crossings / 2 / (len(samples) / rate)


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 15) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"still waiting for: {what}") from None
