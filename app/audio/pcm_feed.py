"""A room's two decks mixed into one PCM stream, fed to a Snapcast stream's source in real time.

Each deck's libVLC player hands its decoded samples to a `DeckTap` (libVLC's audio callbacks), up
to about 2 s ahead of when they are due, each block stamped with the time it should sound
(measured: blocks arrive in bursts, 1.2-2.0 s ahead of their stamp). `PcmFeed` runs on its own
thread: every 20 ms it takes from each tap what is due in the next 20 ms, applies that deck's
volume *as it is now* (so fades, panic pauses and Talk act at once rather than 2 s later), sums
the decks, and writes the result to the stream's source: snapserver's `tcp` source in server mode
(this side connects) or its pipe. snapserver stamps what it reads as it reads it, so writing each
block when it is due keeps the stream in real time.

What snapserver receives is raw PCM at its default sample format, 48000:16:2.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import stat
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

RATE = 48_000
CHANNELS = 2
FORMAT = "S16N"  # libVLC's name for native-endian signed 16-bit: snapserver's 48000:16:2
CHUNK_FRAMES = 960  # 20 ms, snapserver's default read size
CHUNK_US = CHUNK_FRAMES * 1_000_000 // RATE
# Blocks are stamped in microseconds and rounded; a gap or overlap this small is the rounding,
# not a discontinuity, and is played through (resynchronising on it would click).
JOIN_TOLERANCE_FRAMES = 96  # 2 ms
# Reconnecting to the source: first after 0.5 s, then doubling up to 10 s (as for local outputs).
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0
CONNECT_TIMEOUT_S = 2.0
# A pipe takes 64 KiB (17 chunks) before a writer finds out nobody reads it: the source counts as
# fed once more than that has gone in, so a dead snapserver does not flicker between fed and not.
PROVEN_CHUNKS = 25
# A source that starts again after a break (another instance took over, snapserver restarted):
# snapclient re-synchronises about half a second into a resumed stream, dropping some 0.2 s. The
# first LEAD_IN_CHUNKS after a connection are silence (the decks' audio is taken and dropped, so
# the music stays where the plan has it), and that drop falls in them, not in the music; the music
# then comes in over FADE_IN_CHUNKS.
LEAD_IN_CHUNKS = 40  # 0.8 s
FADE_IN_CHUNKS = 50  # then 1 s up to full level: music already under way does not start with a step

Samples = npt.NDArray[np.int16]
Clock = Callable[[], int]  # microseconds, the clock libVLC stamps its blocks with


def monotonic_us() -> int:
    """libVLC's clock: mdate() is CLOCK_MONOTONIC in microseconds on Linux, as time.monotonic is."""
    return time.monotonic_ns() // 1000


def volume_gain(volume_pct: int) -> float:
    """libVLC's own volume curve (cubic: 20 % is about -42 dB), so a deck sounds as on any other output."""
    level = max(0, min(100, volume_pct)) / 100
    return level**3


@dataclass
class _Block:
    due_us: int  # when frame `used` should sound
    frames: Samples  # shape (n, CHANNELS)
    used: int = 0

    @property
    def left(self) -> int:
        return len(self.frames) - self.used

    @property
    def end_us(self) -> int:
        return self.due_us + self.left * 1_000_000 // RATE


class DeckTap:
    """One deck's decoded audio, from libVLC's threads to the feed's: blocks by when they are due.

    libVLC calls `play`, `pause`, `resume` and `flush` on its own threads; the feed calls `mix_into`
    on its thread; the player sets the volume from the loop. One lock guards the little they share.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._blocks: deque[_Block] = deque()
        self._paused_at: int | None = None
        self._gain = 0.0
        self.frames_played = 0  # frames of this deck that went into the stream

    # --- from the player (the loop) ---

    def set_volume(self, volume_pct: int) -> None:
        self._gain = volume_gain(volume_pct)

    # --- from libVLC's threads ---

    def play(self, frames: Samples, due_us: int) -> None:
        with self._lock:
            self._blocks.append(_Block(due_us, frames))

    def pause(self, at_us: int) -> None:
        with self._lock:
            self._paused_at = at_us

    def resume(self, at_us: int) -> None:
        # libVLC's clock stood still while paused: what was already handed over is due that much later.
        with self._lock:
            if self._paused_at is not None:
                shift = max(0, at_us - self._paused_at)
                for block in self._blocks:
                    block.due_us += shift
            self._paused_at = None

    def flush(self) -> None:
        with self._lock:
            self._blocks.clear()

    # --- from the feed's thread ---

    def mix_into(self, out: npt.NDArray[np.float32], start_us: int) -> None:
        """Add what is due in [start_us, start_us + len(out) frames) to `out`, at the volume of now;
        drop what is overdue (a block that came too late is not played late)."""
        n = len(out)
        gain = self._gain
        with self._lock:
            if self._paused_at is not None:
                return
            pos = 0
            while pos < n and self._blocks:
                block = self._blocks[0]
                t = start_us + pos * 1_000_000 // RATE
                if block.end_us <= t:
                    self._blocks.popleft()  # overdue
                    continue
                lead = (block.due_us - t) * RATE // 1_000_000
                if abs(lead) <= JOIN_TOLERANCE_FRAMES:
                    lead = 0
                if lead >= n - pos:
                    break  # not due yet
                if lead > 0:
                    pos += lead  # a gap: silence until the block is due
                elif lead < 0:
                    skip = min(-lead, block.left)
                    block.used += skip  # its start is overdue
                    block.due_us += skip * 1_000_000 // RATE
                    if block.left == 0:
                        self._blocks.popleft()
                    continue
                take = min(block.left, n - pos)
                if gain > 0:
                    out[pos : pos + take] += block.frames[block.used : block.used + take] * gain
                block.used += take
                block.due_us += take * 1_000_000 // RATE
                pos += take
                self.frames_played += take
                if block.left == 0:
                    self._blocks.popleft()


class _Sink:
    """Where the mixed PCM goes: snapserver's tcp source (server mode) or its pipe."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._sock: socket.socket | None = None
        self._fd: int | None = None

    @property
    def open(self) -> bool:
        return self._sock is not None or self._fd is not None

    def connect(self) -> None:
        if self.source.startswith("tcp://"):
            host, _, port = self.source.removeprefix("tcp://").split("?")[0].rpartition(":")
            sock = socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S)
            sock.settimeout(CONNECT_TIMEOUT_S)
            self._sock = sock
            return
        path = self.source.removeprefix("pipe://").split("?")[0]
        if not stat.S_ISFIFO(os.stat(path).st_mode):
            raise OSError(errno.EINVAL, f"{path} is not a FIFO (snapserver makes it when it starts)")
        # Read-write, which Linux opens at once whether or not snapserver has the FIFO open (it
        # opens it again whenever it read an end of file, so a write-only open would find no reader
        # most of the time); and non-blocking, so a snapserver that stopped reading is found out.
        self._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)

    def write(self, data: bytes) -> None:
        if self._sock is not None:
            self._sock.sendall(data)
        elif self._fd is not None:
            try:
                written = os.write(self._fd, data)
            except BlockingIOError:
                written = 0
            if written < len(data):
                # A full pipe (64 KiB, a third of a second) means nobody reads it.
                raise OSError(errno.EPIPE, "snapserver is not reading the pipe")

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._sock = self._fd = None


class PcmFeed:
    """Mixes a room's decks and writes the mix to its Snapcast source, on a thread of its own.

    The source being unreachable is the room's output failing: `error` says why, and the feed tries
    again with back-off, taking (and dropping) the decks' audio meanwhile so it resumes in time.
    """

    def __init__(self, room_id: str, source: str, clock: Clock = monotonic_us) -> None:
        self.room_id = room_id
        self.source = source
        self.taps = (DeckTap("a"), DeckTap("b"))
        self._clock = clock
        self._sink = _Sink(source)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.connected = False
        self.chunks_written = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"pcm-feed-{self.room_id}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sink.close()

    def _run(self) -> None:
        due = self._clock()
        retry_at = 0.0
        backoff = RETRY_FIRST_S
        proven_at = lead_in_until = 0
        mix = np.zeros((CHUNK_FRAMES, CHANNELS), dtype=np.float32)
        while not self._stop.is_set():
            mix.fill(0)
            for tap in self.taps:
                tap.mix_into(mix, due)
            if not self._sink.open and time.monotonic() >= retry_at:
                try:
                    self._sink.connect()
                except OSError as exc:
                    retry_at, backoff = time.monotonic() + backoff, min(RETRY_MAX_S, backoff * 2)
                    self._failed(f"cannot reach the Snapcast source {self.source}: {exc.strerror or exc}")
                else:
                    # Taken as working once more has gone in than a pipe or socket holds unread.
                    proven_at = self.chunks_written + PROVEN_CHUNKS
                    lead_in_until = self.chunks_written + LEAD_IN_CHUNKS
            if self._sink.open:
                if (since_lead_in := self.chunks_written - lead_in_until) < FADE_IN_CHUNKS:
                    mix *= max(0, since_lead_in + 1) / FADE_IN_CHUNKS
                pcm = np.clip(mix, -32768, 32767).astype(np.int16).tobytes()
                try:
                    self._sink.write(pcm)
                    self.chunks_written += 1
                    if not self.connected and self.chunks_written >= proven_at:
                        backoff = RETRY_FIRST_S
                        self.connected, self.error = True, None
                        log.info("music %s: feeding the Snapcast source %s", self.room_id, self.source)
                except OSError as exc:
                    self._sink.close()
                    retry_at, backoff = time.monotonic() + backoff, min(RETRY_MAX_S, backoff * 2)
                    self._failed(f"the Snapcast source {self.source} stopped taking audio: {exc.strerror or exc}")
            due += CHUNK_US
            late = self._clock() - due
            if late > 1_000_000:
                due = self._clock()  # stalled (a suspended machine): start again from now, not catch up
            else:
                self._stop.wait(max(0.0, -late / 1_000_000))

    def _failed(self, reason: str) -> None:
        if reason != self.error:
            log.error("music %s: %s", self.room_id, reason)
        self.connected, self.error = False, reason
