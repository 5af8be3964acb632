"""The music plan: which track sounds when, with its fades, over a session's whole arc.

A pure function of (playlist, the session's phases, now, pauses, skips); nothing here reads a
clock or a file. The room's player follows the plan; any change to the arc (advance, extend,
hold, resume, a booster) or to the music (a pause, a skip, a failed track) makes a new plan.

Rules:
- The plan starts at the first phase's start with the first track of that phase's segment,
  fading in over START_FADE_S, and runs to the end of the session, or, while the last phase
  it can reach is open-ended (arrival before the dose, closing, or any phase while the arc is
  frozen by a hold or a panic), to `horizon_s` past max(now, that phase's start). A track
  sounding at the plan's end plays on to its own end, except when the session has ended: then
  it fades out over END_FADE_S.
- Within a segment, each track crossfades into the next over the segment's `crossfade_s`
  (the playlist's by default): the next track starts `crossfade_s` before the current one
  ends. Every fade is clamped to a third of the playlist's shortest track, so at most two
  tracks ever sound at once, and only while one fades out and the other fades in.
- When a phase outlasts its segment, `overrun: loop` plays the segment again from its first
  track; `overrun: continue` goes on into the next phase's segment, whose tracks are then
  not played again when that phase begins (it starts from its first unplayed track). The
  last phase's segment always loops.
- When a phase ends while its music sounds, the sounding segment's `on_phase_end` decides:
  `crossfade` fades into the new phase's segment over `phase_end_crossfade_s` (or what is
  left of the sounding track, if less); `finish` lets the sounding track play to its end and
  the new phase's segment follows with the usual crossfade. A phase that ends during a
  crossfade takes effect when that crossfade is over. If the music is ahead of the arc
  (borrowed by `continue`), a phase change into that segment changes nothing.
- Pauses (the therapist's, or a panic) are intervals of wall time in which the music stood
  still: each sounding track stops at the pause's start and goes on from the same position
  at its end with a RESUME_FADE_S fade-in, and everything after shifts by the paused time.
  Phases keep their own times (a hold freezes the arc, which the phases already show);
  if the arc moved on during the pause and the segment says `crossfade`, the new phase's
  music starts at the resume instead. An open pause (the music is paused now) is planned as
  if it resumed the moment it paused, and `paused_at` says so: whoever resumes at time T
  uses `plan.shifted(paused_at, T - paused_at)`.
- A skip at time s (a skipped or failed track) ends the latest-started sounding track at s,
  fading it out over the crossfade (at once if another track is still fading out), and starts
  the next track in order at s. Skips during a pause are ignored.
- Gapless joins: a track marked `join: gapless` that follows the track before it in its
  segment in the natural course (not after a skip, a pause or a phase change) starts exactly
  at that track's end, with no fade on either side of the join, and says so (`gapless`).
  Where a phase ends during such a run of movements and the sounding segment says `finish`,
  the whole run finishes (the movements joined to it are part of the piece); with `crossfade`
  the new phase's music comes in as usual.
- Gentler steering (`gentler_from`: the time, or times, a facilitator asked for gentler
  music). A request applies to the segment of the phase that is current when it is made, and
  to tracks chosen from that segment at or after it (the earliest request in a phase counts).
  The track sounding then, if more intense than the median, gives way at once: it fades out
  over the segment's crossfade (at least GENTLER_FADE_S) while the next gentle piece fades in;
  in a crossfade, the track coming in is judged when the crossfade ends. A calm track plays
  on. Pass every request made so far, not only the latest: an earlier phase's steering is
  part of what already played.
  When such a choice is made, the next *piece* in order (a track and those joined gaplessly
  after it) is taken if its intensity (the highest tagged in it) is at or below the segment's
  median intensity (over its tagged pieces) or it has none; otherwise the plan passes over it
  to the next piece in order. When no such piece is left in this pass, the segment starts
  again from its first gentle piece, whatever its `overrun` says: steering never takes the
  music ahead into the next phase's segment. The arc is left alone: a phase change brings
  that phase's music, as curated. A segment with no tagged track is not affected.
- Loudness: `gains` maps a track's path to the gain (dB) that brings it to the room's
  loudness target (app/domain/loudness.py); each planned track carries its `gain_db`.
- Another playlist mid-session (`build_session_plan`): each choice holds from its time to the
  next. The arc stays where it is: from the change on, the new playlist's segment for the phase
  then current plays from its first track, fading in over the new playlist's crossfade while
  the track that was sounding fades out over the same time; later phases bring the new
  playlist's own segments. What played before the change is the old playlist's plan, as it was.
- Causality: every decision at time t depends only on phase changes, pauses, skips and the
  gentler request at or before t, so re-planning never rewrites what already played: what
  sounded before `now` is the same in every later plan. Only a track sounding at `now` may
  get a new end.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any, ParamSpec

from pydantic import BaseModel, ConfigDict

from app.domain.playlists import Playlist, Segment, Track
from app.domain.session import PhaseSpan

START_FADE_S = 3.0
RESUME_FADE_S = 3.0
END_FADE_S = 3.0
# Asked for gentler music, an intense track gives way over at least this long (never a cut).
GENTLER_FADE_S = 8.0
_EPS = 1e-6
# A plan of hundreds of tracks takes milliseconds to build: its steps yield this often (about
# every 0.3 ms on the clinic's box), so a panic arriving meanwhile is not kept waiting.
STEP_MOMENTS = 64


class PlannedTrack(BaseModel):
    model_config = ConfigDict(frozen=True)

    segment: str
    phase: str  # the phase whose segment the track belongs to
    index: int  # position in that segment
    path: str
    title: str
    artist: str
    duration_s: float  # declared length of the whole file
    start: float  # epoch seconds: when it starts to sound
    end: float  # when it stops sounding (after its fade-out)
    fade_in_s: float  # the gain rises over [start, start + fade_in_s)
    fade_out_s: float  # and falls over [end - fade_out_s, end)
    offset_s: float = 0.0  # position in the file at `start`
    gain_db: float = 0.0  # loudness correction for this file (toward the room's target; never clipping)
    gapless: bool = False  # starts exactly at the end of the track before it, no fades: play it back to back
    library: str | None = None  # the library its path is in, when not the current playlist's (before a change)

    def position_at(self, t: float) -> float:
        return self.offset_s + (t - self.start)

    def sounds_at(self, t: float) -> bool:
        return self.start <= t < self.end

    def gain(self, t: float) -> float:
        """Amplitude factor 0..1 at t: equal-power (sine) fades, so a crossfade keeps the loudness."""
        if not self.sounds_at(t):
            return 0.0
        g = 1.0
        if self.fade_in_s > 0 and t < self.start + self.fade_in_s:
            g *= math.sin(0.5 * math.pi * (t - self.start) / self.fade_in_s)
        if self.fade_out_s > 0 and t > self.end - self.fade_out_s:
            g *= math.sin(0.5 * math.pi * (self.end - t) / self.fade_out_s)
        return max(0.0, g)


class MusicPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    tracks: list[PlannedTrack]  # ordered by start
    end: float | None = None  # no track starts at or after this
    paused_at: float | None = None  # the music is paused since then (open pause)

    def at(self, t: float) -> list[PlannedTrack]:
        """The tracks sounding at t, oldest first: two during a crossfade, none in a pause."""
        starts = self._starts()
        i = bisect.bisect_right(starts, t)
        longest = self._longest()
        out = []
        j = i - 1
        while j >= 0 and starts[j] >= t - longest - _EPS:
            if self.tracks[j].sounds_at(t):
                out.append(self.tracks[j])
            j -= 1
        out.reverse()
        return out

    def next_after(self, t: float) -> PlannedTrack | None:
        """The first track that starts after t."""
        i = bisect.bisect_right(self._starts(), t)
        return self.tracks[i] if i < len(self.tracks) else None

    def shifted(self, at: float, by: float) -> MusicPlan:
        """The plan as if the music stood still from `at` for `by` seconds (a resume).

        What starts at or after `at` moves by `by`; a track sounding at `at` is split as a pause
        splits it: it stops at `at` and goes on from the same position at `at + by`, fading in.
        """
        tracks: list[PlannedTrack] = []
        for t in self.tracks:
            if t.start >= at - _EPS:
                tracks.append(t.model_copy(update={"start": t.start + by, "end": t.end + by}))
            elif t.end <= at + _EPS:
                tracks.append(t)
            else:
                fade_start = t.end - t.fade_out_s
                before_fade = at - fade_start if t.fade_out_s > 0 and at > fade_start else 0.0
                tracks.append(t.model_copy(update={"end": at, "fade_out_s": before_fade}))
                tracks.append(
                    t.model_copy(
                        update={
                            "start": at + by,
                            "end": t.end + by,
                            "offset_s": t.offset_s + (at - t.start),
                            "fade_in_s": max(RESUME_FADE_S, t.start + t.fade_in_s - at),
                            "gapless": False,
                        }
                    )
                )
        tracks.sort(key=lambda p: (p.start, p.end))
        end = None if self.end is None else self.end + by
        return MusicPlan(tracks=tracks, end=end, paused_at=None)

    def _starts(self) -> list[float]:
        cached = self.__dict__.get("_starts_cache")
        if cached is None:
            cached = [t.start for t in self.tracks]
            self.__dict__["_starts_cache"] = cached
        return cached

    def _longest(self) -> float:
        cached = self.__dict__.get("_longest_cache")
        if cached is None:
            cached = max((t.end - t.start for t in self.tracks), default=0.0)
            self.__dict__["_longest_cache"] = cached
        return cached


# A plan being built: each `next` does a slice of the work; the plan is StopIteration's value.
PlanSteps = Generator[None, None, MusicPlan]
P = ParamSpec("P")


@dataclass
class _Occ:
    """A track occurrence while the plan is being built (mutable until emitted)."""

    k: int  # phase index whose segment it comes from
    index: int
    track: Track
    start: float
    end: float
    fade_in: float
    fade_out: float
    offset: float
    gapless: bool = False


class _Moment(IntEnum):
    """What can happen next while a plan is built; at equal times the lower value goes first."""

    PLAN_END = 0
    CROSSFADE_END = 1  # the track fading out has ended
    PHASE_CHANGE = 2
    PAUSE = 3
    NEXT_TRACK = 4  # the sounding track's successor starts (its crossfade begins, or a gapless join)
    SKIP = 5  # applies to the latest started track
    GENTLER = 6  # gentler music asked for: an intense track sounding gives way


class _Builder:
    def __init__(
        self,
        playlist: Playlist,
        phases: Sequence[PhaseSpan],
        *,
        gains: Mapping[str, float],
        gentle_since: Mapping[int, float],
    ) -> None:
        self.playlist = playlist
        self.phases = list(phases)
        self.gains = gains
        self.gentle_since = gentle_since  # phase index -> when gentler music was first asked for in it
        self.now = -math.inf  # the time of the latest moment handled
        for p in self.phases:
            if p.music not in playlist.segments:
                raise ValueError(f"playlist {playlist.id!r} has no segment {p.music!r} (phase {p.name!r})")
        # Per phase: which of its segment's tracks has the next one joined gaplessly to it (none: no lookups).
        self.gapless_after = [
            (*tuple(t.join == "gapless" for t in playlist.segments[p.music].tracks[1:]), False) for p in self.phases
        ]
        self.any_gapless = any(any(flags) for flags in self.gapless_after)
        shortest = min(t.duration_s for s in playlist.segments.values() for t in s.tracks)
        self.max_fade = shortest / 3
        self.played = [0] * len(self.phases)
        self.arc_k = 0
        self.cur: _Occ | None = None
        self.prev: _Occ | None = None
        self.out: list[PlannedTrack] = []

    # --- choosing tracks ---

    def segment(self, k: int) -> Segment:
        return self.playlist.segments[self.phases[k].music]

    def fade(self, seconds: float) -> float:
        return max(0.0, min(seconds, self.max_fade))

    def crossfade(self, k: int) -> float:
        return self.fade(self.playlist.crossfade_for(self.phases[k].music))

    def take(self, k: int, t: float) -> tuple[int, int]:
        """The first unplayed track of phase k's segment (looping, or going on into the next), chosen at t."""
        seg = self.segment(k)
        i = self.played[k]
        median = self.gentle_median(k, t) if self.gentle_since else None
        if median is not None:
            i = _gentle_index(seg, i, median)
        if i >= len(seg.tracks):
            if median is None and seg.overrun == "continue" and k + 1 < len(self.phases):
                return self.take(k + 1, t)
            i = 0 if median is None else _gentle_index(seg, 0, median)
        self.played[k] = i + 1
        return k, i

    def gentle_median(self, k: int, t: float) -> float | None:
        """The median intensity to steer phase k's segment by at t, if the steering applies."""
        since = self.gentle_since.get(k)
        if since is None or t < since - _EPS:
            return None
        return self.segment(k).median_intensity

    def next_for(self, occ: _Occ | None, t: float) -> tuple[int, int]:
        if occ is None or occ.k < self.arc_k:
            return self.take(self.arc_k, t)
        return self.take(occ.k, t)

    def joins_gaplessly(self, occ: _Occ) -> bool:
        """Whether the track after occ in its segment is joined to it gaplessly and comes next."""
        if not self.gapless_after[occ.k][occ.index] or self.played[occ.k] != occ.index + 1:
            return False
        # Past a phase change the run of movements finishes only where the segment lets a track finish.
        return occ.k >= self.arc_k or self.segment(occ.k).on_phase_end == "finish"

    def new(self, k_i: tuple[int, int], start: float, fade_in: float, *, gapless: bool = False) -> _Occ:
        k, i = k_i
        track = self.segment(k).tracks[i]
        return _Occ(
            k=k,
            index=i,
            track=track,
            start=start,
            end=start + track.duration_s,
            fade_in=fade_in,
            fade_out=0.0,
            offset=0.0,
            gapless=gapless,
        )

    def emit(self, occ: _Occ) -> None:
        if occ.end - occ.start <= _EPS:
            return
        phase = self.phases[occ.k]
        t = occ.track
        # Only what differs from the defaults: each field passed costs validation, and plans run to thousands.
        extra: dict[str, Any] = {}
        if gain := self.gains.get(t.path):
            extra["gain_db"] = gain
        if occ.gapless:
            extra["gapless"] = True
        self.out.append(
            PlannedTrack(
                segment=phase.music,
                phase=phase.name,
                index=occ.index,
                path=t.path,
                title=t.title,
                artist=t.artist,
                duration_s=t.duration_s,
                start=occ.start,
                end=occ.end,
                fade_in_s=occ.fade_in,
                fade_out_s=occ.fade_out,
                offset_s=occ.offset,
                **extra,
            )
        )

    # --- what happens at each kind of moment ---

    def begin(self, t: float, fade_in_s: float = START_FADE_S) -> None:
        self.cur = self.new(self.next_for(None, t), t, self.fade(fade_in_s))

    def natural_next_at(self) -> float:
        """When the current track's crossfade into its successor begins (at its end for a gapless join)."""
        cur = self.cur
        assert cur is not None
        if self.any_gapless and self.joins_gaplessly(cur):
            return max(cur.end, self.now)
        busy_until = cur.start + cur.fade_in
        if self.prev is not None:
            busy_until = max(busy_until, self.prev.end)
        x = min(self.crossfade(cur.k), max(0.0, cur.end - busy_until))
        if self.any_gapless:
            # Never before a moment already handled: a phase change during a gapless run can end the run.
            return max(cur.end - x, self.now)
        return cur.end - x

    def natural_next(self, t: float) -> None:
        cur = self.cur
        assert cur is not None and self.prev is None
        if self.any_gapless and self.joins_gaplessly(cur):
            self.played[cur.k] = cur.index + 2
            cur.end = t
            self.emit(cur)
            self.cur = self.new((cur.k, cur.index + 1), t, 0.0, gapless=True)
            return
        x = cur.end - t
        cur.fade_out = max(cur.fade_out, x)
        self.prev, self.cur = cur, self.new(self.next_for(cur, t), t, x)

    def prev_ended(self, t: float) -> None:
        assert self.prev is not None
        self.emit(self.prev)
        self.prev = None
        self.phase_changed(t)

    def phase_changed(self, t: float) -> None:
        """Apply the sounding segment's on_phase_end if the arc has moved past the music."""
        cur = self.cur
        if cur is None or cur.k >= self.arc_k or self.prev is not None:
            return  # on or ahead of the arc, or in a crossfade (re-checked when it ends)
        seg = self.segment(cur.k)
        if seg.on_phase_end == "finish":
            return  # the natural next track comes from the new phase's segment
        x = min(self.fade(seg.phase_end_crossfade_s), cur.end - t)
        if x <= _EPS:
            return  # ends now anyway
        cur.end, cur.fade_out = t + x, x
        self.prev, self.cur = cur, self.new(self.next_for(cur, t), t, x)

    def gentler(self, t: float) -> None:
        """Gentler music asked for at t: a track more intense than its segment's median, sounding in
        the steered phase, gives way now to the next gentle piece, crossfading over the segment's
        crossfade (at least GENTLER_FADE_S, so even a segment without crossfades changes gently)."""
        cur = self.cur
        if cur is None or cur.start > t + _EPS:
            return
        median = self.gentle_median(cur.k, t)
        if median is None or cur.track.intensity is None or cur.track.intensity <= median:
            return
        x = min(self.fade(max(self.crossfade(cur.k), GENTLER_FADE_S)), cur.end - t)
        if x <= _EPS:
            return  # ends now anyway
        cur.end, cur.fade_out = t + x, x
        self.prev, self.cur = cur, self.new(self.next_for(cur, t), t, x)

    def skip(self, s: float) -> None:
        cur = self.cur
        if cur is None or cur.start > s:
            return
        if self.prev is not None:
            # Another track is still fading out: cut the skipped one (usually a failed file).
            cur.end = s
            cur.fade_out = min(cur.fade_out, 0.0)
            self.emit(cur)
            fade_in = max(self.crossfade(cur.k), self.prev.end - s)
            self.cur = self.new(self.next_for(cur, s), s, fade_in)
            return
        x = min(self.crossfade(cur.k), cur.end - s)
        cur.end, cur.fade_out = s + x, x
        self.prev, self.cur = cur, self.new(self.next_for(cur, s), s, x)

    def pause(self, a: float, b: float, boundaries: list[tuple[float, int]]) -> None:
        """Stop at a, go on at b; `boundaries` are the phase changes in (a, b]."""
        sounding = [o for o in (self.prev, self.cur) if o is not None]
        for playing in sounding:
            before = replace(playing, end=min(playing.end, a))
            fade_start = playing.end - playing.fade_out
            before.fade_out = max(0.0, a - fade_start) if playing.fade_out > 0 and a > fade_start else 0.0
            self.emit(before)
        for _, k in boundaries:
            self.arc_k = max(self.arc_k, k)
        cur = self.cur
        if cur is not None and cur.k < self.arc_k and self.segment(cur.k).on_phase_end == "crossfade":
            self.prev = None
            self.cur = self.new(self.next_for(cur, b), b, self.fade(RESUME_FADE_S))
            return
        resumed: list[_Occ | None] = []
        for part in (self.prev, self.cur):
            if part is None or part.end <= a:
                resumed.append(None)
                continue
            left_of_fade_in = part.start + part.fade_in - a
            resumed.append(
                replace(
                    part,
                    start=b,
                    end=part.end + (b - a),
                    offset=part.offset + (a - part.start),
                    fade_in=max(self.fade(RESUME_FADE_S), left_of_fade_in),
                    gapless=False,
                )
            )
        self.prev, self.cur = resumed
        if self.cur is None:  # cur ended exactly at a (a gapless join, or no crossfade): the next one resumes
            self.prev, self.cur = None, self.new(self.next_for(None, b), b, self.fade(RESUME_FADE_S))

    def finish(self, plan_end: float, ended: bool) -> None:
        if ended and self.cur is not None and self.cur.end > plan_end:
            cur = self.cur
            new_end = min(cur.end, plan_end + self.fade(END_FADE_S))
            if new_end < cur.end:
                cur.fade_out = new_end - plan_end
                cur.end = new_end
        for occ in (self.prev, self.cur):
            if occ is not None:
                self.emit(occ)
        self.prev = self.cur = None


def run_steps(steps: PlanSteps) -> MusicPlan:
    """The plan a `*_steps` generator builds, built at one go."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            plan: MusicPlan = done.value
            return plan


def _at_one_go(steps: Callable[P, PlanSteps]) -> Callable[P, MusicPlan]:
    def build(*args: P.args, **kwargs: P.kwargs) -> MusicPlan:
        return run_steps(steps(*args, **kwargs))

    build.__doc__ = steps.__doc__
    return build


def plan_steps(
    playlist: Playlist,
    phases: Sequence[PhaseSpan],
    now: float,
    *,
    pauses: Sequence[tuple[float, float | None]] = (),
    skips: Sequence[float] = (),
    horizon_s: float = 4 * 3600,
    arc_frozen: bool = False,
    gains: Mapping[str, float] | None = None,
    gentler_from: float | Sequence[float] | None = None,
    start_fade_s: float = START_FADE_S,
) -> PlanSteps:
    """Every track's start, end, fades, file offset and gain from the first phase to the plan's end,
    yielding every STEP_MOMENTS moments (`build_plan` builds it at one go).

    `arc_frozen` (SessionState.frozen: on hold or in panic): the current phase's planned end
    is not a time the arc will reach by itself, so the plan stays in the current phase.
    `gains`: track path -> gain_db (tracks not in it get 0). `gentler_from`: see the module docstring.
    `start_fade_s`: the first track's fade-in.
    """
    phases = list(phases)
    if not phases or phases[0].start is None:
        return MusicPlan(tracks=[])
    reachable = 0
    while reachable + 1 < len(phases) and phases[reachable + 1].start is not None:
        if arc_frozen and phases[reachable].status == "current":
            break
        reachable += 1
    last = phases[reachable]
    assert last.start is not None
    t0 = phases[0].start
    ended = all(p.status == "done" for p in phases) and last.end is not None
    plan_end = last.end if ended and last.end is not None else max(now, last.start) + horizon_s

    boundaries = [(p.start, k) for k, p in enumerate(phases[1 : reachable + 1], start=1) if p.start is not None]
    closed, paused_at = _normalise_pauses(pauses, t0)
    skip_times = sorted(s for s in skips if s >= t0)
    if paused_at is not None:
        skip_times = [s for s in skip_times if s < paused_at]
    gentle_since = _gentle_since(gentler_from, boundaries)
    # Each phase's first request, from t0 on, outside any pause (the music resumes gentle anyway).
    gentle_times = sorted(g for g in gentle_since.values() if g >= t0 and not any(a <= g < end for a, end in closed))
    if paused_at is not None:
        gentle_times = [g for g in gentle_times if g < paused_at]

    b = _Builder(playlist, phases, gains=gains or {}, gentle_since=gentle_since)
    bi = pi = si = gi = 0
    while bi < len(boundaries) and boundaries[bi][0] <= t0:
        b.arc_k = max(b.arc_k, boundaries[bi][1])
        bi += 1
    b.begin(t0, start_fade_s)

    # Moments in time order; at equal times in the order of _Moment (bound to locals: this loop is hot).
    plan_end_, crossfade_end, phase_change, pause, next_track, skip, gentler = _Moment
    moments = 0
    while True:
        moments += 1
        if moments % STEP_MOMENTS == 0:
            yield
        assert b.cur is not None
        candidates: list[tuple[float, _Moment]] = [(plan_end, plan_end_)]
        if b.prev is not None:
            candidates.append((b.prev.end, crossfade_end))
        if bi < len(boundaries):
            candidates.append((boundaries[bi][0], phase_change))
        if pi < len(closed):
            candidates.append((closed[pi][0], pause))
        candidates.append((b.natural_next_at(), next_track))
        if si < len(skip_times):
            candidates.append((skip_times[si], skip))
        if gi < len(gentle_times):
            candidates.append((gentle_times[gi], gentler))
        t, kind = min(candidates)
        b.now = t
        if kind is plan_end_:
            break
        if kind is crossfade_end:
            b.prev_ended(t)
        elif kind is phase_change:
            b.arc_k = max(b.arc_k, boundaries[bi][1])
            bi += 1
            b.phase_changed(t)
        elif kind is pause:
            a, end = closed[pi]
            pi += 1
            during = []
            while bi < len(boundaries) and boundaries[bi][0] <= end:
                during.append(boundaries[bi])
                bi += 1
            b.pause(a, end, during)
            while si < len(skip_times) and skip_times[si] < end:
                si += 1
        elif kind is next_track:
            b.natural_next(t)
        elif kind is skip:
            b.skip(t)
            si += 1
        elif b.prev is not None:
            gentle_times[gi] = b.prev.end  # in a crossfade: the track coming in is judged when it is alone
        else:
            b.gentler(t)
            gi += 1
    b.finish(plan_end, ended)
    b.out.sort(key=lambda p: (p.start, p.end))
    return MusicPlan(tracks=b.out, end=plan_end, paused_at=paused_at)


@dataclass(frozen=True)
class PlaylistChoice:
    """A playlist chosen for a session from `since` on, with its tracks' gains (path -> dB)."""

    since: float
    playlist: Playlist
    gains: Mapping[str, float] | None = None


def session_plan_steps(
    choices: Sequence[PlaylistChoice],
    phases: Sequence[PhaseSpan],
    now: float,
    *,
    pauses: Sequence[tuple[float, float | None]] = (),
    skips: Sequence[float] = (),
    horizon_s: float = 4 * 3600,
    arc_frozen: bool = False,
    gentler_from: Sequence[float] = (),
) -> PlanSteps:
    """The plan of a session whose playlist may have changed on the way (choices in time order).

    Each choice plays from its `since` to the next one's: the first as `build_plan` plans it,
    a later one from the start of the current phase's segment at its `since` (the rule is in
    the module docstring); a change during a crossfade takes effect when the crossfade is over.
    Tracks of an earlier playlist carry its library when it is not the last one's.
    A generator: it yields every STEP_MOMENTS moments of the plan, so an event loop can build a
    long plan between its other work (`run_steps` builds it at one go).
    """
    phases = list(phases)
    if not choices:
        return MusicPlan(tracks=[])
    last_library = choices[-1].playlist.library
    since = [c.since for c in choices]  # when each takes effect (a change during a crossfade waits for its end)
    tracks: list[PlannedTrack] = []
    plan = MusicPlan(tracks=[])
    for i, choice in enumerate(choices):
        until = since[i + 1] if i + 1 < len(choices) else None
        playlist = choice.playlist
        if i == 0:
            part_phases, requests, fade_s = phases, list(gentler_from), START_FADE_S
        else:
            k = _phase_at(phases, since[i])
            if k is None:
                continue
            part_phases = [phases[k].model_copy(update={"start": since[i]}), *phases[k + 1 :]]
            begun = phases[k].start
            assert begun is not None
            # Steering asked for earlier in this phase still holds; from earlier phases it does not.
            requests = [max(r, since[i]) for r in gentler_from if r >= begun - _EPS]
            fade_s = playlist.crossfade_for(phases[k].music)
        if until is not None and part_phases[0].start is not None and until <= part_phases[0].start + _EPS:
            since[i + 1] = max(since[i + 1], since[i])
            continue  # replaced at once
        plan = yield from plan_steps(
            playlist,
            part_phases,
            now if until is None else min(now, until),
            pauses=pauses,
            skips=skips,
            horizon_s=horizon_s,
            arc_frozen=arc_frozen,
            gains=choice.gains,
            gentler_from=requests or None,
            start_fade_s=fade_s,
        )
        if until is None:
            tracks.extend(plan.tracks)
            break
        crossfading = plan.at(until)
        if len(crossfading) > 1:
            # Two tracks already sound: the new playlist comes in when the one fading out has gone,
            # so no more than two ever sound at once (the room has two decks).
            until = since[i + 1] = min(t.end for t in crossfading)
        out_s = _switch_fade(choices[i + 1].playlist, phases, until)
        library = None if playlist.library == last_library else playlist.library
        tracks.extend(_until(t, until, out_s, library) for t in plan.tracks if t.start < until - _EPS)
    tracks.sort(key=lambda p: (p.start, p.end))
    return MusicPlan(tracks=tracks, end=plan.end, paused_at=plan.paused_at)


build_plan = _at_one_go(plan_steps)
build_session_plan = _at_one_go(session_plan_steps)


def _phase_at(phases: Sequence[PhaseSpan], t: float) -> int | None:
    """The index of the phase that was current at t."""
    found = None
    for k, p in enumerate(phases):
        if p.start is not None and p.start <= t + _EPS:
            found = k
    return found


def _switch_fade(playlist: Playlist, phases: Sequence[PhaseSpan], at: float) -> float:
    """The crossfade into `playlist` at `at` (its crossfade for the segment then current, as build_plan clamps it)."""
    k = _phase_at(phases, at)
    if k is None:
        return START_FADE_S
    shortest = min(t.duration_s for s in playlist.segments.values() for t in s.tracks)
    return max(0.0, min(playlist.crossfade_for(phases[k].music), shortest / 3))


def _until(t: PlannedTrack, until: float, out_s: float, library: str | None) -> PlannedTrack:
    """A track of a playlist replaced at `until`: it fades out over `out_s` from then, if it still sounds."""
    update: dict[str, Any] = {} if library is None else {"library": library}
    end = until + out_s
    if t.end > end + _EPS:
        fading_from = t.end - t.fade_out_s if t.fade_out_s > 0 else math.inf
        update.update(end=end, fade_out_s=end - min(until, fading_from))
    return t.model_copy(update=update) if update else t


def segment_play_s(playlist: Playlist, segment: str) -> float:
    """How long one pass through a segment sounds: its tracks less the crossfades between them (none at a
    gapless join), each fade clamped as the plan clamps it."""
    seg = playlist.segments[segment]
    shortest = min(t.duration_s for s in playlist.segments.values() for t in s.tracks)
    crossfade = max(0.0, min(playlist.crossfade_for(segment), shortest / 3))
    return seg.total_s - sum(crossfade for t in seg.tracks[1:] if t.join != "gapless")


def _gentle_since(
    gentler_from: float | Sequence[float] | None, boundaries: Sequence[tuple[float, int]]
) -> dict[int, float]:
    """Phase index -> the first time gentler music was asked for while that phase was current."""
    if gentler_from is None:
        return {}
    requests = [gentler_from] if isinstance(gentler_from, (int, float)) else list(gentler_from)
    since: dict[int, float] = {}
    for asked in sorted(requests):
        k = max((k for start, k in boundaries if start <= asked), default=0)
        since.setdefault(k, asked)
    return since


def _gentle_index(seg: Segment, i: int, median: float) -> int:
    """The first track from i on that starts a piece at or below the median intensity (or untagged)."""
    while i < len(seg.tracks):
        intensity = seg.piece_intensity(i)
        if intensity is None or intensity <= median:
            return i
        i = seg.piece_end(i)
    return i


def _normalise_pauses(
    pauses: Sequence[tuple[float, float | None]], t0: float
) -> tuple[list[tuple[float, float]], float | None]:
    """Sorted, merged, closed pauses from t0 on; an open pause becomes a zero-length one and `paused_at`."""
    closed: list[tuple[float, float]] = []
    paused_at: float | None = None
    for a, end in sorted(pauses, key=lambda p: p[0]):
        if paused_at is not None:
            break
        if end is None:
            a = max(a, closed[-1][1] if closed else a, t0)
            paused_at = a
            end = a
        elif end <= t0 or end < a:
            continue
        a = max(a, t0)
        if closed and a <= closed[-1][1]:
            closed[-1] = (closed[-1][0], max(closed[-1][1], end))
            if paused_at is not None:
                paused_at = closed[-1][1]
        else:
            closed.append((a, end))
    return closed, paused_at
