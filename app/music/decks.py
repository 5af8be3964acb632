"""A room's two decks: two players following the music plan, with crossfades and volume ramps.

The pair is told the plan (`follow`) and makes the decks match it from now on:
- A planned track that should sound and is not on a deck is started on a free deck at its
  planned position. Started on time, it fades in as planned; started late (a restart, a new
  plan that jumps) it fades in over at least RECOVERY_FADE_S: never at full volume at once.
- A deck whose track is in the new plan at about the same position (within MATCH_TOLERANCE_S)
  is left alone and only takes the new end and fade-out: a re-plan never restarts or seeks
  what is playing. A deck whose track is no longer planned fades out over SWITCH_FADE_S.
- Volumes are planned in dB on libVLC's cubic scale (app.music.volume) and handed to each
  deck as a ramp it plays out by itself, so the room only wakes when a track starts or ends.
  Every deck volume is the room volume x the track's fade gain x its loudness gain (gain_db),
  never above the room's ceiling (so never above 100 %: libVLC only attenuates, nothing clips);
  then the talk duck, if any, takes its dB off what would be heard. A volume change from the
  API ramps over at least MIN_VOLUME_RAMP_S.
- Gapless joins: a planned track marked `gapless` is cued (loaded, paused) on the free deck
  PREROLL_S before it starts, and resumed at the moment the track before it ends: its real
  end by the player's length of the file (the declared duration may be off by a fraction of a
  second), within GAPLESS_MAX_SHIFT_S of the planned one. The track before it is neither
  faded nor stopped at the join; it ends by itself.
- Talk: `duck(db, over_s)` turns every deck down by `db` along a ramp (and back with 0).
- Failures of a track: a deck that reports an error, ends well before its planned end, or is
  not playing VERIFY_S after it was started, is reported as "track_failed" (the caller records
  it and re-plans with a skip at that moment). MAX_FAILURES_IN_A_ROW of them without one track
  playing hold new starts for FAILURES_HOLD_S: a broken library is not skipped through at the
  speed of the decks.
- Failures of the room's audio: an output that cannot be opened (the player says so: libVLC
  plays on into nothing), and a library that is not configured or not a folder, are not the
  track's fault: no track is skipped. The decks stop, the status says "error" with the reason,
  and they try again after OUTPUT_RETRY_S (doubling up to OUTPUT_RETRY_MAX_S) or
  LIBRARY_RETRY_S, at the planned position. Every problem is logged once with its path and
  reason, then at a bounded rate (app/music/problems.py). "silence" is reported once when
  nothing has sounded for SILENCE_S while the plan wants music and the room is not paused.
- Status: "stopping" while what sounds is fading out with no plan (the session ended).

libVLC runs on each player's own thread; the players hand their events to the loop, and
everything here runs on the loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.audio.player import Player, PlayerEvent
from app.audio.snapcast import SnapcastOutputStatus
from app.domain.clock import Clock, sleep_until_or_woken
from app.domain.music_plan import MusicPlan, PlannedTrack
from app.domain.playlists import Playlist
from app.music.problems import ProblemLog
from app.music.volume import DuckRamp, Envelope, MasterRamp, attenuated_pct, deck_volume_pct

log = logging.getLogger(__name__)

MIN_VOLUME_RAMP_S = 2.0
RECOVERY_FADE_S = 3.0  # fade-in of a track started late (restart, jump)
SWITCH_FADE_S = 3.0  # fade-out of a track the plan no longer wants
STOP_FADE_S = 3.0  # follow(None)
MATCH_TOLERANCE_S = 3.0  # a playing track within this of its planned position is left alone (a pause fade)
LATE_S = 0.5  # started later than this after its planned start counts as late
VERIFY_S = 2.0  # a started track must be playing (and moving) by then
EARLY_END_S = 1.5  # ending this long before its planned end is a failure
SILENCE_S = 2.0
RAMP_STEP_S = 0.1  # resolution of the volume ramps handed to the players
PREROLL_S = 3.0  # a gapless track is cued this long before it starts
GAPLESS_MAX_SHIFT_S = EARLY_END_S  # how far a join may move from the plan to follow a file's real length
JOIN_HOLD_S = 0.5  # the track before a gapless join is stopped this long after it (it ends by itself)
JOIN_TIMING_S = 1.2  # this long before a join, its moment is taken again from the player's own clock
OUTPUT_RETRY_S = 5.0  # an audio output that failed is tried again after this, doubling each time
OUTPUT_RETRY_MAX_S = 60.0
LIBRARY_RETRY_S = 10.0
MAX_FAILURES_IN_A_ROW = 5
FAILURES_HOLD_S = 60.0
_EPS = 1e-3


class NowPlaying(BaseModel):
    title: str
    artist: str
    segment: str
    position_s: float
    duration_s: float
    gain_db: float = 0.0  # the loudness correction this track plays with


class NextUp(BaseModel):
    title: str
    artist: str
    starts_at: float


MusicState = Literal["playing", "paused", "stopped", "error", "stopping"]


class MusicStatus(BaseModel):
    state: MusicState = Field(
        description="playing, paused, stopped, error (with `error`), or stopping (the session is over and what "
        "still sounds is fading out)"
    )
    now_playing: NowPlaying | None = Field(description="The track sounding now, with its position (seconds)")
    next: NextUp | None = Field(description="The next planned track and when it starts (epoch seconds)")
    volume_pct: int = Field(description="The room's volume, percent of the player's scale")
    ceiling_pct: int = Field(description="The room's ceiling: the music never goes louder, percent")
    error: str | None = Field(description="What is wrong with the audio, as the player reports it; None if nothing")
    missing_tracks: str | None = Field(
        default=None, description="How many of the playlist's files are not in the library, and where it looked"
    )
    playlist: str | None = Field(default=None, description="The playlist playing")
    paused_since: float | None = Field(default=None, description="When the music paused, epoch seconds")
    output: str | None = Field(default=None, description='The decks\' audio output ("dummy": deliberately none)')
    duck_db: float = Field(default=0.0, description="How far the music is turned down for Talk now, dB (0 or negative)")
    talking: bool = Field(default=False, description="Talk is on: the music is (or is going) down")
    talk_until: float | None = Field(default=None, description="When Talk ends by itself, epoch seconds")
    gentler: bool = Field(default=False, description="Gentler music was asked for in the current phase")
    gentler_available: bool = Field(
        default=False, description="The current phase's music has intensity tags to steer by"
    )
    snapcast: SnapcastOutputStatus | None = Field(
        default=None, description="With a Snapcast output: the stream, its source and each of the room's players"
    )
    played_by: str | None = Field(
        default=None,
        description="With a standby (ARCROOM_INSTANCE): the instance that plays the music, the leader. A room "
        "on the box's own output is heard only while that instance leads; Snapcast moves with the lead",
    )


class DeckState(Enum):
    IDLE = "idle"  # no track
    PLAYING = "playing"  # a planned track: fading in, sounding, or fading out as planned
    LEAVING = "leaving"  # no longer planned: fading out, then stopped
    FAILED = "failed"  # reported as failed: stopped at the next reconcile
    CUED = "cued"  # a gapless track loaded and paused, waiting for the join (go_at)
    NO_OUTPUT = "no_output"  # its output failed (not the track's fault): stopped at the next reconcile


class PauseState(Enum):
    PLAYING = "playing"  # following the plan
    FADING_OUT = "fading_out"  # paused, but the decks are still fading out
    PAUSED = "paused"


@dataclass
class _Deck:
    name: str
    player: Player
    state: DeckState = DeckState.IDLE
    track: PlannedTrack | None = None  # set unless IDLE
    media: str | None = None  # the resolved path or URL the player was given
    started_at: float = 0.0  # when play() was issued (room clock), shifted by pauses
    start_pos: float = 0.0  # position in the file at started_at
    env: Envelope | None = None
    verify_at: float | None = None
    sent_for: tuple[object, ...] | None = None  # the envelope and room volume it was computed from
    before_pause: Envelope | None = None
    gain_db: float = 0.0  # the track's loudness gain as it started (a new measurement waits for the next track)
    go_at: float | None = None  # CUED: when to resume it
    timed: bool = False  # CUED: go_at has been taken from the player before it
    after: _Deck | None = None  # CUED: the deck playing the track it joins
    hold_until: float | None = None  # before a gapless join: not stopped before this (it ends by itself)

    @property
    def busy(self) -> bool:
        """Has a track that is not known to have failed (playing or on its way out)."""
        return self.state in (DeckState.PLAYING, DeckState.LEAVING)

    def position(self, now: float) -> float:
        return self.start_pos + (now - self.started_at)

    def clear(self) -> None:
        self.state = DeckState.IDLE
        self.track = self.media = self.env = self.before_pause = None
        self.verify_at = None
        self.sent_for = None
        self.go_at = self.hold_until = None
        self.after = None
        self.gain_db = 0.0
        self.timed = False


@dataclass
class _Outage:
    """Why the decks start nothing now, and when they try again."""

    key: str  # "output", "library <name>", "failures"
    error: str
    retry_at: float
    backoff_s: float


class DeckPair:
    def __init__(
        self,
        room_id: str,
        decks: tuple[Player, Player],
        libraries: Mapping[str, Path],
        clock: Clock,
        *,
        ceiling_pct: int,
        volume_pct: int,
        on_event: Callable[[str, dict[str, Any]], None],
    ) -> None:
        self.room_id = room_id
        self._decks = [_Deck("a", decks[0]), _Deck("b", decks[1])]
        self._libraries = dict(libraries)
        self._clock = clock
        self._ceiling = max(0, min(100, int(ceiling_pct)))
        target = self._clamp(volume_pct)
        self._volume_pct = target
        self._master = MasterRamp(clock.now(), target, clock.now(), target)
        self._duck = DuckRamp(clock.now(), 0.0, clock.now(), 0.0)
        self._on_event = on_event
        self._plan: MusicPlan | None = None
        self._playlist: Playlist | None = None
        self._pause = PauseState.PLAYING
        self._paused_at: float | None = None
        self._pause_generation = 0  # a pause still fading out finishes only if nothing came after it
        self._error: str | None = None
        self._failed: list[tuple[str, float]] = []  # (path, planned start - offset) of failed occurrences
        self._failures_in_a_row = 0
        self._outage: _Outage | None = None
        self._problems = ProblemLog(log, clock)
        self._silence_since: float | None = None
        self._silence_reported = False
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle ---

    async def start(self) -> None:
        """Start both decks (the room owns them: close() closes them)."""
        for deck in self._decks:
            await deck.player.start()
            deck.player.set_listener(functools.partial(self._on_player_event, deck))
            await deck.player.set_volume(0)

    async def close(self) -> None:
        self._closed = True
        self._wake.set()
        for task in list(self._tasks):
            task.cancel()
        for deck in self._decks:
            deck.player.set_listener(None)
            try:
                await deck.player.close()
            except Exception:  # closing must go on to the other deck
                log.exception("music %s: deck %s did not close cleanly", self.room_id, deck.name)

    async def run(self) -> None:
        """Start and stop tracks at their planned times and watch for failures, until cancelled."""
        while not self._closed:
            self._wake.clear()
            try:
                async with self._lock:
                    await self._reconcile(self._clock.now())
            except Exception as exc:  # one bad moment must not end the room's music for good
                log.exception("music %s: could not follow the plan", self.room_id)
                self._error = f"{type(exc).__name__}: {exc}"
                await sleep_until_or_woken(self._clock, self._clock.now() + 1.0, self._wake)
                continue
            await sleep_until_or_woken(self._clock, self._next_deadline(self._clock.now()), self._wake)

    # --- commands ---

    async def follow(self, plan: MusicPlan | None, playlist: Playlist | None) -> None:
        """Make playback match `plan` from now on; None stops the music, fading out."""
        async with self._lock:
            now = self._clock.now()
            self._plan, self._playlist = plan, playlist
            if plan is None or playlist is None:
                self._plan = None
                self._outage = None  # nothing is wanted: nothing is failing to play
                for deck in self._decks:
                    if deck.state is DeckState.CUED:
                        await self._drop_cue(deck)
                    elif deck.state is not DeckState.IDLE:
                        await self._leave(deck, now, STOP_FADE_S)
                self._pause, self._paused_at = PauseState.PLAYING, None
                self._pause_generation += 1
            elif plan.paused_at is not None and self._pause is PauseState.PLAYING:
                # Paused now (a restart during a pause, or the caller paused): stay silent until resume().
                for deck in self._decks:
                    if deck.state is not DeckState.IDLE and deck.env is not None:
                        deck.before_pause, deck.verify_at = deck.env, None
                await self._stop_for_pause(now)
                self._paused_at = plan.paused_at
            if self._pause is PauseState.PLAYING:
                await self._reconcile(now)
        self._wake.set()

    async def pause(self, fade_s: float = 0.0) -> None:
        """Pause at once (panic), or after fading out over `fade_s`; returns when the music has stopped.

        The lock is not held during a fade, so a panic (or a resume) in the middle of it acts at once.
        """
        async with self._lock:
            if self._pause is PauseState.PAUSED or (self._pause is PauseState.FADING_OUT and fade_s > 0):
                return
            now = self._clock.now()
            self._pause_generation += 1
            generation = self._pause_generation
            if self._pause is PauseState.FADING_OUT:  # a panic during a pause's fade: stop now
                fade_s = 0.0
            else:
                for deck in self._decks:
                    if deck.state is not DeckState.IDLE and deck.env is not None:
                        deck.before_pause = deck.env
                        deck.verify_at = None
            if fade_s <= 0:
                await self._stop_for_pause(now)
                self._wake.set()
                return
            self._pause = PauseState.FADING_OUT
            for deck in self._decks:
                if deck.state is not DeckState.IDLE and deck.env is not None:
                    deck.env = deck.env.leave(now, fade_s)
                    await self._send_ramp(deck, now, force=True)
        await self._clock.sleep_until(now + fade_s)
        async with self._lock:
            if self._pause is PauseState.FADING_OUT and generation == self._pause_generation:
                await self._stop_for_pause(self._clock.now())
        self._wake.set()

    async def _stop_for_pause(self, now: float) -> None:
        self._pause = PauseState.PAUSED
        await asyncio.gather(*(d.player.pause() for d in self._decks if d.state is not DeckState.IDLE))
        self._paused_at = now

    async def resume(self, fade_in_s: float = 3.0) -> None:
        """Go on from where the music paused, fading in."""
        async with self._lock:
            if self._pause is PauseState.PLAYING:
                return
            now = self._clock.now()
            self._pause_generation += 1  # a pause still fading out ends here
            was_fading = self._pause is PauseState.FADING_OUT
            paused_at = self._paused_at if self._paused_at is not None else now
            shift = now - paused_at
            self._pause, self._paused_at = PauseState.PLAYING, None
            if self._plan is not None:
                since = self._plan.paused_at if self._plan.paused_at is not None else paused_at
                self._plan = self._plan.shifted(since, now - since)
            for deck in self._decks:
                if deck.state is DeckState.CUED:
                    await self._drop_cue(deck)  # the join moved with the pause: cued again if still planned
            if self._outage is not None:
                self._outage.retry_at = min(self._outage.retry_at, now)  # a resume is a good moment to try
            for deck in self._decks:
                if not deck.busy:
                    continue
                deck.started_at += shift
                level = deck.env.gain(now) if was_fading and deck.env is not None else 0.0
                env = (deck.before_pause or deck.env or Envelope(now, 0, math.inf, 0)).shifted(shift)
                left_of_fade_in = env.in_from + env.in_s - now
                env.in_s = max(fade_in_s, left_of_fade_in, 0.0)
                # Up from where it is: 0 after a pause, part-way if the pause was still fading out.
                env.in_from = now - env.in_s * math.asin(min(1.0, level)) / (0.5 * math.pi)
                deck.env, deck.before_pause = env, None
                deck.verify_at = now + VERIFY_S
                await self._send_ramp(deck, now, force=True)
                await deck.player.resume()
            await self._reconcile(now)
        self._wake.set()

    async def set_volume(self, volume_pct: int, ramp_s: float = 2.0) -> None:
        """The room's volume, clamped to the ceiling, reached over at least 2 s along a dB ramp."""
        async with self._lock:
            now = self._clock.now()
            target = self._clamp(volume_pct)
            self._master = MasterRamp(now, self._master.at(now), now + max(MIN_VOLUME_RAMP_S, ramp_s), target)
            self._volume_pct = target
            await self._resend(now)
        self._wake.set()

    async def duck(self, db: float, over_s: float) -> None:
        """Turn every deck down by `db` (negative; 0 brings the music back), along a dB ramp over `over_s`."""
        async with self._lock:
            now = self._clock.now()
            target = min(0.0, db)
            self._duck = DuckRamp(now, self._duck.at(now), now + max(0.0, over_s), target)
            await self._resend(now)
        self._wake.set()

    def duck_db(self) -> float:
        return self._duck.at(self._clock.now())

    async def _resend(self, now: float) -> None:
        if self._pause is not PauseState.PLAYING:
            return  # resume() sends every ramp again
        for deck in self._decks:
            if deck.busy:
                await self._send_ramp(deck, now)
            elif deck.state is DeckState.CUED and deck.go_at is not None:
                await deck.player.set_volume(self._deck_pct(deck, max(now, deck.go_at)))

    def status(self) -> MusicStatus:
        now = self._clock.now()
        current = self._current_deck()
        now_playing = None
        if current is not None and current.track is not None:
            t = current.track
            position = current.player.status().position_ms / 1000
            now_playing = NowPlaying(
                title=t.title,
                artist=t.artist,
                segment=t.segment,
                position_s=position,
                duration_s=t.duration_s,
                gain_db=current.gain_db,
            )
        nxt = None
        if self._plan is not None and self._pause is PauseState.PLAYING:
            upcoming = self._plan.next_after(now)
            if upcoming is not None:
                nxt = NextUp(title=upcoming.title, artist=upcoming.artist, starts_at=upcoming.start)
        sounding = any(self._sounding(d) for d in self._decks)
        error = self._outage.error if self._outage is not None else self._error
        state: MusicState
        if self._pause is not PauseState.PLAYING:
            state = "paused"
        elif self._plan is None:
            state = "stopping" if sounding else "stopped"
        elif self._outage is not None:
            state = "error"
        elif sounding:
            state = "playing"
        elif self._error is not None:
            state = "error"
        else:
            state = "stopped"
        return MusicStatus(
            state=state,
            now_playing=now_playing,
            next=nxt,
            volume_pct=self._volume_pct,
            ceiling_pct=self._ceiling,
            error=error if self._plan is not None else None,
            playlist=self._playlist.id if self._playlist and self._plan else None,
            paused_since=self._paused_at if self._pause is not PauseState.PLAYING else None,
            output=self._decks[0].player.output,
            duck_db=round(self._duck.at(now), 2),
        )

    # --- making the decks match the plan ---

    async def _reconcile(self, now: float) -> None:
        if self._closed or self._pause is not PauseState.PLAYING:
            return
        await self._check_cues(now)
        self._time_joins(now)
        # A gapless join first: stopping a deck can keep libVLC busy for tens of milliseconds.
        for deck in self._decks:
            if deck.state is DeckState.CUED and deck.go_at is not None and now >= deck.go_at - _EPS:
                await self._go(deck, now)
        for deck in self._decks:
            if deck.state in (DeckState.IDLE, DeckState.CUED):
                continue
            done = deck.env is None or now >= max(deck.env.stops_at, deck.hold_until or -math.inf)
            if done or deck.state in (DeckState.FAILED, DeckState.NO_OUTPUT):
                await self._stop(deck)
        planned = [] if self._plan is None else self._plan.at(now)
        wanted = [d for d in planned if not self._has_failed(d) and not self._faded_out(d, now)]
        matched: set[int] = set()
        for deck in self._decks:
            if deck.state is not DeckState.PLAYING:
                continue
            i = self._match(deck, wanted, matched, now)
            if i is not None:
                matched.add(i)
                self._adopt(deck, wanted[i], now)
            elif deck.hold_until is not None and now < deck.hold_until:
                pass  # it ends by itself at a gapless join, neither faded nor cut
            elif deck.track is not None and deck.track.start > now + _EPS:
                pass  # it joined gaplessly a moment before its planned start (the file before it was shorter)
            else:
                await self._leave(deck, now, SWITCH_FADE_S)
        for i, track in enumerate(wanted):
            if self._outage is not None and now < self._outage.retry_at:
                break  # the room's audio is out: nothing is started until it is tried again
            if i not in matched and not any(self._holds(d, track) for d in self._decks):
                await self._start(track, now)
        for deck in self._decks:
            if deck.busy:
                await self._send_ramp(deck, now)
        if self._outage is None or now >= self._outage.retry_at:
            await self._cue_next(now)
        await self._check_decks(now)
        self._watch_silence(now, bool(planned))

    def _match(self, deck: _Deck, wanted: list[PlannedTrack], matched: set[int], now: float) -> int | None:
        assert deck.track is not None
        best: tuple[float, int] | None = None
        for i, planned in enumerate(wanted):
            if i in matched or planned.path != deck.track.path:
                continue
            gap = abs(planned.position_at(now) - deck.position(now))
            if gap <= MATCH_TOLERANCE_S and (best is None or gap < best[0]):
                best = (gap, i)
        return None if best is None else best[1]

    def _adopt(self, deck: _Deck, planned: PlannedTrack, now: float) -> None:
        """Keep the deck playing; take the new plan's end and fade-out without a jump in level."""
        assert deck.env is not None
        deck.track = planned
        env = deck.env
        end, out_s = self._fade_out(deck, planned)
        if env.cut is None and abs(env.end - end) < 1e-3 and abs(env.out_s - out_s) < 1e-3:
            return
        new = Envelope(env.in_from, env.in_s, end, out_s)
        if env.cut is None and abs(new.gain(now) - env.gain(now)) < 0.02:
            deck.env = new
        else:
            # Fading already, differently: go down from where it is to the new end.
            deck.env = Envelope(env.in_from, env.in_s, end, out_s, (now, env.gain(now), max(now, end)))

    def _faded_out(self, planned: PlannedTrack, now: float) -> bool:
        """In the last seconds of its fade-out that the decks leave out (see _fade_out): done, not to start."""
        end, _ = self._fade_out(self._decks[0], planned)
        return now >= end - 1e-6

    @staticmethod
    def _fade_out(deck: _Deck, planned: PlannedTrack) -> tuple[float, float]:
        """(end, fade-out) of the deck's envelope for a planned track: a fade-out is done by the time the
        player's last, buffered seconds begin (Player.drain_s), since no volume change reaches those."""
        if planned.fade_out_s <= 0:
            return planned.end, 0.0
        early = min(deck.player.drain_s, planned.fade_out_s / 2)
        return planned.end - early, planned.fade_out_s - early

    async def _start(self, planned: PlannedTrack, now: float) -> None:
        deck = next((d for d in self._decks if d.state is DeckState.IDLE), None)
        if deck is None:  # both busy: the one fading out (or a cue) gives way
            deck = next(
                (d for d in self._decks if d.state in (DeckState.LEAVING, DeckState.FAILED, DeckState.CUED)), None
            )
            if deck is None:
                log.warning("music %s: no free deck for %s", self.room_id, planned.path)
                return
            await (self._drop_cue(deck) if deck.state is DeckState.CUED else self._stop(deck))
        media = self._media_for(planned, now)
        if media is None:
            return
        late = now - planned.start
        end, out_s = self._fade_out(deck, planned)
        if late <= LATE_S:
            env = Envelope(planned.start, planned.fade_in_s, end, out_s)
        else:
            left_of_fade_in = planned.start + planned.fade_in_s - now
            env = Envelope(now, max(RECOVERY_FADE_S, left_of_fade_in), end, out_s)
        position = max(0.0, planned.position_at(now))
        deck.state, deck.track, deck.env = DeckState.PLAYING, planned, env
        deck.started_at, deck.start_pos = now, position
        deck.gain_db = planned.gain_db
        deck.verify_at = now + VERIFY_S
        deck.media = media
        await self._send_ramp(deck, now, force=True)
        try:
            await deck.player.play(media, start_ms=round(position * 1000))
        except Exception as exc:  # noqa: BLE001 - a player that cannot play is a failed track, not a dead room
            self._fail(deck, f"{type(exc).__name__}: {exc}")
            return
        # From when libVLC was told to play (opening the file takes a few ms): a gapless join after
        # this track is timed from here, and a resume starts as fast as a play does.
        deck.started_at = self._clock.now()
        self._error = None
        self._emit_started(deck, position)

    def _emit_started(self, deck: _Deck, position: float) -> None:
        planned = deck.track
        assert planned is not None
        detail: dict[str, Any] = {
            "path": planned.path,
            "title": planned.title,
            "artist": planned.artist,
            "segment": planned.segment,
            "position_s": round(position, 3),
            "deck": deck.name,
        }
        if planned.gain_db:
            detail["gain_db"] = planned.gain_db
        if planned.gapless:
            detail["gapless"] = True
        self._emit("track_started", detail)

    def _media_for(self, planned: PlannedTrack, now: float) -> str | None:
        """The path or URL to give the player; None (and an outage) when the library is missing."""
        if "://" in planned.path:
            return planned.path
        assert self._playlist is not None
        name = planned.library or self._playlist.library
        library = self._libraries.get(name)
        if library is None:
            self._out(f"library {name}", f"the {name!r} music library is not configured", now, LIBRARY_RETRY_S)
            return None
        if not Path(library).is_dir():
            error = f"the {name!r} music library is missing: {library} is not a folder"
            self._out(f"library {name}", error, now, LIBRARY_RETRY_S)
            return None
        if self._outage is not None and self._outage.key == f"library {name}":
            self._problems.resolved(self._outage.key, f"music {self.room_id}: the {name!r} library is back")
            self._outage = None
        return str(Path(library) / planned.path)

    async def _leave(self, deck: _Deck, now: float, within_s: float) -> None:
        if deck.env is None:
            await self._stop(deck)
            return
        deck.state = DeckState.LEAVING
        deck.hold_until = None
        deck.env = deck.env.leave(now, within_s)
        if now >= deck.env.stops_at:
            await self._stop(deck)
        else:
            await self._send_ramp(deck, now)

    async def _stop(self, deck: _Deck) -> None:
        deck.clear()
        try:
            await deck.player.stop()
        except Exception:  # try again with the next change
            log.exception("music %s: deck %s did not stop", self.room_id, deck.name)

    # --- gapless joins ---

    def _holds(self, deck: _Deck, planned: PlannedTrack) -> bool:
        """Whether the deck has this planned track cued."""
        t = deck.track
        return (
            deck.state is DeckState.CUED
            and t is not None
            and t.path == planned.path
            and abs(t.start - planned.start) < _EPS
        )

    async def _check_cues(self, now: float) -> None:
        """A cue the plan no longer has (a skip, a pause, a new playlist) is dropped."""
        for deck in self._decks:
            if deck.state is not DeckState.CUED or deck.track is None:
                continue
            planned = None if self._plan is None else self._plan.next_after(deck.track.start - _EPS)
            if planned is None or not planned.gapless or not self._holds(deck, planned):
                await self._drop_cue(deck)

    async def _cue_next(self, now: float) -> None:
        if self._plan is None:
            return
        upcoming = self._plan.next_after(now)
        if upcoming is None or not upcoming.gapless or upcoming.start - now > PREROLL_S or self._has_failed(upcoming):
            return
        if any(self._holds(d, upcoming) for d in self._decks):
            return
        deck = next((d for d in self._decks if d.state is DeckState.IDLE), None)
        if deck is None:
            return  # the other deck is still fading out: the track starts as usual (a little late, faded in)
        media = self._media_for(upcoming, now)
        if media is None:
            return
        before = next(
            (
                d
                for d in self._decks
                if d.state is DeckState.PLAYING and d.track is not None and abs(d.track.end - upcoming.start) < _EPS
            ),
            None,
        )
        go_at = upcoming.start
        if before is not None:
            # Where the file before it really ends: its length by the player, from where it started.
            length_ms = before.player.status().length_ms
            if length_ms is not None:
                real_end = before.started_at + (length_ms / 1000 - before.start_pos)
                go_at = min(upcoming.start + GAPLESS_MAX_SHIFT_S, max(upcoming.start - GAPLESS_MAX_SHIFT_S, real_end))
            before.hold_until = max(go_at, upcoming.start) + JOIN_HOLD_S
        deck.state, deck.track, deck.media = DeckState.CUED, upcoming, media
        deck.gain_db = upcoming.gain_db
        deck.env = Envelope(go_at, 0.0, *self._fade_out(deck, upcoming))
        deck.go_at, deck.after = go_at, before
        deck.started_at, deck.start_pos = go_at, upcoming.offset_s
        try:
            await deck.player.set_volume(self._deck_pct(deck, go_at))
            await deck.player.cue(media, start_ms=round(upcoming.offset_s * 1000))
        except Exception as exc:  # noqa: BLE001 - as in _start
            self._fail(deck, f"{type(exc).__name__}: {exc}")

    def _time_joins(self, now: float) -> None:
        """Shortly before a join, take its moment again from the clock of the player before it: what was
        known at the cue is when that track was started, which a loaded machine may have delayed.
        Watching the clock takes a moment, so it is done beside the decks, never holding them up."""
        for deck in self._decks:
            if deck.state is not DeckState.CUED or deck.timed or deck.after is None or deck.go_at is None:
                continue
            if now >= deck.go_at - JOIN_TIMING_S:
                deck.timed = True
                task = asyncio.create_task(self._time_join(deck, deck.after, deck.track), name="music-join")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _time_join(self, deck: _Deck, before: _Deck, track: PlannedTrack | None) -> None:
        try:
            remaining = await before.player.remaining_s()
        except Exception as exc:  # noqa: BLE001 - a task nobody awaits must not fail unseen
            # The join keeps the moment it was cued for: a few hundred ms late at worst, never lost.
            self._problems.report("join-timing", f"music {self.room_id}: could not time a join: {exc!r}")
            return
        if remaining is None:
            return
        async with self._lock:
            now = self._clock.now()
            if deck.state is not DeckState.CUED or deck.after is not before or deck.track is not track or track is None:
                return  # the join was dropped or has happened meanwhile
            planned = track.start
            deck.go_at = min(planned + GAPLESS_MAX_SHIFT_S, max(planned - GAPLESS_MAX_SHIFT_S, now + remaining))
            deck.started_at = deck.go_at
            before.hold_until = max(deck.go_at, planned) + JOIN_HOLD_S
        self._wake.set()

    async def _go(self, deck: _Deck, now: float) -> None:
        planned = deck.track
        assert planned is not None and deck.env is not None
        deck.state = DeckState.PLAYING
        deck.started_at = now
        deck.env = Envelope(now, 0.0, *self._fade_out(deck, planned))
        deck.go_at, deck.after = None, None
        deck.verify_at = now + VERIFY_S
        try:
            await deck.player.resume()
        except Exception as exc:  # noqa: BLE001 - as in _start
            self._fail(deck, f"{type(exc).__name__}: {exc}")
            return
        await self._send_ramp(deck, now, force=True)
        self._error = None
        self._emit_started(deck, planned.offset_s)

    async def _drop_cue(self, deck: _Deck) -> None:
        if deck.after is not None:
            deck.after.hold_until = None
        await self._stop(deck)

    # --- failures and silence ---

    def _on_player_event(self, deck: _Deck, event: PlayerEvent) -> None:
        if self._closed or event.media != deck.media:
            return
        if event.kind == "output":
            if deck.busy or deck.state is DeckState.CUED:
                self._no_output(deck, event.error or "libVLC could not open it")
            return
        if not deck.busy:
            return
        now = self._clock.now()
        if deck is not self._current_deck() or deck.state is DeckState.LEAVING:
            return  # it was on its way out anyway
        assert deck.env is not None
        if event.kind == "error":
            self._fail(deck, event.error or "could not be played")
        elif now < deck.env.stops_at - EARLY_END_S:
            left = deck.env.stops_at - now
            self._fail(deck, f"ended {left:.0f} s before its planned end (corrupt, or shorter than declared)")
        self._wake.set()

    async def _check_decks(self, now: float) -> None:
        for deck in self._decks:
            if not deck.busy or deck.verify_at is None or now < deck.verify_at:
                continue
            deck.verify_at = None
            st = deck.player.status()
            if st.output_error is not None:
                self._no_output(deck, st.output_error)
                continue
            moved = st.position_ms / 1000 > deck.start_pos + 0.1
            if st.state != "playing" or not moved:
                self._fail(deck, f"not playing {VERIFY_S:.0f} s after it was started ({st.state})")
                continue
            self._played(deck)

    def _played(self, deck: _Deck) -> None:
        """A track verified as playing: whatever was failing works now."""
        self._failures_in_a_row = 0
        if self._outage is not None:
            what = "the audio output works again" if self._outage.key == "output" else "music plays again"
            self._problems.resolved(self._outage.key, f"music {self.room_id}: {what}")
            self._outage = None
            self._emit("audio_recovered", {"deck": deck.name})
        if deck.track is not None:
            self._problems.resolved(f"track {deck.track.path}", f"music {self.room_id}: {deck.track.path} plays again")

    def _fail(self, deck: _Deck, error: str) -> None:
        assert deck.track is not None
        planned = deck.track
        deck.state = DeckState.FAILED
        deck.verify_at = None
        self._failed.append((planned.path, planned.start - planned.offset_s))
        del self._failed[:-8]
        self._error = f"{planned.path}: {error}"
        self._problems.report(
            f"track {planned.path}", f"music {self.room_id}: {deck.media or planned.path} failed: {error}"
        )
        self._failures_in_a_row += 1
        if self._failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
            self._out(
                "failures",
                f"{self._failures_in_a_row} tracks in a row could not be played (the last: {self._error})",
                self._clock.now(),
                FAILURES_HOLD_S,
            )
        self._emit("track_failed", {"path": planned.path, "title": planned.title, "error": error})
        self._wake.set()

    def _no_output(self, deck: _Deck, reason: str) -> None:
        """The deck's audio output failed: not the track's fault, so nothing is skipped; tried again later."""
        if deck.state is DeckState.CUED and deck.after is not None:
            deck.after.hold_until = None
        deck.state = DeckState.NO_OUTPUT
        deck.verify_at = None
        output = deck.player.output
        self._out("output", f"no audio output ({output}): {reason}", self._clock.now())
        self._wake.set()

    def _out(self, key: str, error: str, now: float, retry_s: float | None = None) -> None:
        """Start nothing until retry; say so once, then at a bounded rate."""
        previous = self._outage
        if previous is not None and previous.key == key:
            backoff = min(OUTPUT_RETRY_MAX_S, previous.backoff_s * 2) if retry_s is None else retry_s
        else:
            backoff = OUTPUT_RETRY_S if retry_s is None else retry_s
        self._outage = _Outage(key, error, now + backoff, backoff)
        if self._problems.report(key, f"music {self.room_id}: {error}; trying again in {backoff:.0f} s"):
            self._emit("audio_failed", {"what": key, "error": error, "retry_s": backoff})
        self._wake.set()

    def _has_failed(self, planned: PlannedTrack) -> bool:
        origin = planned.start - planned.offset_s
        return any(path == planned.path and abs(origin - o) < MATCH_TOLERANCE_S for path, o in self._failed)

    def _sounding(self, deck: _Deck) -> bool:
        if not deck.busy:
            return False
        st = deck.player.status()
        return st.state == "playing" and st.output_error is None

    def _watch_silence(self, now: float, wanted: bool) -> None:
        if not wanted or self._pause is not PauseState.PLAYING or any(self._sounding(d) for d in self._decks):
            self._silence_since, self._silence_reported = None, False
            return
        if self._silence_since is None:
            self._silence_since = now
        elif not self._silence_reported and now - self._silence_since >= SILENCE_S:
            self._silence_reported = True
            error = self._outage.error if self._outage is not None else self._error
            self._emit(
                "silence",
                {"since": self._silence_since, "seconds": round(now - self._silence_since, 3), "error": error},
            )

    # --- time ---

    def _next_deadline(self, now: float) -> float | None:
        if self._closed or self._pause is not PauseState.PLAYING:
            return None
        deadlines: list[float] = []
        if self._plan is not None:
            upcoming = self._plan.next_after(now)
            if upcoming is not None:
                deadlines.append(upcoming.start)
                if upcoming.gapless:
                    deadlines.append(upcoming.start - PREROLL_S)
        for deck in self._decks:
            if deck.state is not DeckState.IDLE and deck.env is not None:
                deadlines.append(deck.env.stops_at)
                for t in (deck.verify_at, deck.go_at, deck.hold_until):
                    if t is not None:
                        deadlines.append(t)
                if deck.state is DeckState.CUED and not deck.timed and deck.go_at is not None:
                    deadlines.append(deck.go_at - JOIN_TIMING_S)
        if self._silence_since is not None and not self._silence_reported:
            deadlines.append(self._silence_since + SILENCE_S)
        if self._outage is not None:
            deadlines.append(self._outage.retry_at)
        future = [d for d in deadlines if d > now]
        return min(future) if future else None

    # --- volume ---

    def _clamp(self, volume_pct: float) -> int:
        return max(0, min(self._ceiling, round(volume_pct)))

    def _deck_pct(self, deck: _Deck, t: float) -> int:
        """Room volume x fade x track gain, under the ceiling; then the talk duck off what that sounds like."""
        assert deck.env is not None
        pct = deck_volume_pct(self._master.at(t), deck.env.gain(t), deck.gain_db, self._ceiling)
        pct = attenuated_pct(pct, self._duck.at(t))
        return max(0, min(self._ceiling, round(pct)))

    def _ramp_times(self, deck: _Deck, now: float) -> list[float]:
        assert deck.env is not None
        windows = deck.env.windows()
        for ramp in (self._master, self._duck):
            if ramp.t1 > now:
                windows.append((ramp.t0, ramp.t1))
        times = {now}
        stop = deck.env.stops_at
        for a, b in windows:
            a, b = max(a, now), min(b, stop)
            if b < a:
                continue
            k = math.ceil(a / RAMP_STEP_S - 1e-9)
            while (t := k * RAMP_STEP_S) < b:
                times.add(t)
                k += 1
            times.update((a, b))
        if math.isfinite(stop) and stop >= now:
            times.add(stop)
        return sorted(t for t in times if now <= t <= stop or t == now)

    async def _send_ramp(self, deck: _Deck, now: float, force: bool = False) -> None:
        if deck.env is None:
            return
        env, m, d = deck.env, self._master, self._duck
        basis = (
            env.in_from,
            env.in_s,
            env.end,
            env.out_s,
            env.cut,
            m.t0,
            m.from_pct,
            m.t1,
            m.to_pct,
            d.t0,
            d.from_db,
            d.t1,
            d.to_db,
            deck.gain_db,
        )
        if not force and basis == deck.sent_for:
            return  # the deck already has this ramp
        points: list[tuple[float, int]] = []
        for t in self._ramp_times(deck, now):
            pct = self._deck_pct(deck, t)
            if not points or points[-1][1] != pct:
                points.append((t, pct))
        deck.sent_for = basis
        try:
            await deck.player.ramp_volume([(t - now, pct) for t, pct in points])
        except Exception:  # a broken listener must not stop the music
            deck.sent_for = None
            log.exception("music %s: deck %s did not take its volume", self.room_id, deck.name)

    # --- helpers ---

    def _current_deck(self) -> _Deck | None:
        """The deck with the latest-started track: what the room is "playing now"."""
        live = [d for d in self._decks if d.state is DeckState.PLAYING]
        if not live:
            live = [d for d in self._decks if d.busy]
        return max(live, key=lambda d: d.track.start if d.track else 0.0, default=None)

    def _emit(self, kind: str, detail: dict[str, Any]) -> None:
        try:
            self._on_event(kind, detail)
        except Exception:
            log.exception("music %s: on_event(%s) failed", self.room_id, kind)
