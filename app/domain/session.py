"""The session arc as a pure function of (preset, events, now).

Nothing here reads a clock or a file: the engine passes `now`, so a restart, a replay for a
report and a twelve-hour simulation all compute the same state from the same events.

Rules of the arc:
- `arrival` lasts until the first dose; each timed phase then follows the one before.
- `advance` ends the current phase now; `extend` lengthens it; a booster lengthens the phase the
  preset names (or the current one, if that phase is already over). Every later phase moves.
- `hold` and `panic` freeze the arc: time in phase stops until `resume` / `panic_cleared`.
  Time since dose and the clinical cues run on real time: pharmacology does not pause.
  Whether time spent in panic counts towards the phase afterwards is the caller's choice
  (`panic_counts_toward_arc`, off by default).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from app.domain.errors import Conflict, NotFound
from app.domain.events import Event, EventType
from app.domain.presets import CueRule, Preset

# How far ahead repeating cues are listed, so the next one is always known.
_CUE_LOOKAHEAD_S = 24 * 3600


@dataclass(frozen=True)
class SessionInfo:
    """What identifies a session; its preset is the snapshot taken when it started."""

    id: str
    room: str
    preset: Preset
    client_label: str | None = None


class PhaseSpan(BaseModel):
    name: str
    scene: str
    music: str
    status: Literal["done", "current", "upcoming"]
    start: float | None  # actual, or planned for upcoming phases (None while unknown)
    end: float | None  # actual for done phases, planned otherwise (None if open-ended)
    duration_s: float | None  # nominal length after extensions; None if open-ended
    extended_s: float = 0.0


class CueView(BaseModel):
    id: str
    rule_id: str
    label: str
    kind: str
    due_at: float
    acknowledged_at: float | None = None


class SessionState(BaseModel):
    session_id: str
    room: str
    preset_id: str
    client_label: str | None
    now: float
    status: Literal["arrival", "running", "held", "panic", "ended"]
    started_at: float
    ended_at: float | None
    phase: str
    phase_index: int
    scene: str
    music: str
    phase_started_at: float
    time_in_phase_s: float
    phase_remaining_s: float | None
    dose_at: float | None
    time_since_dose_s: float | None
    boosters_at: list[float]
    held: bool
    panic: bool
    min_observation_until: float | None
    can_end_without_override: bool
    phases: list[PhaseSpan]
    next_cue: CueView | None
    due_cues: list[CueView]
    event_count: int

    @property
    def frozen(self) -> bool:
        return self.held or self.panic

    @property
    def next_phase_at(self) -> float | None:
        """When the arc will next change phase by itself (None if frozen, open-ended or ended)."""
        if self.frozen or self.phase_remaining_s is None or self.ended_at is not None:
            return None
        return self.now + self.phase_remaining_s


@dataclass
class _Arc:
    """The mutable walk through the events; only `replay` uses it."""

    preset: Preset
    started_at: float
    panic_counts: bool
    durations: list[float | None] = field(init=False)
    extended: list[float] = field(init=False)
    idx: int = 0
    phase_start: float = 0.0
    frozen_s: float = 0.0
    freeze_since: float | None = None
    reasons: set[str] = field(default_factory=set)
    freeze_had_hold: bool = False
    history: list[tuple[int, float, float]] = field(default_factory=list)
    ended_at: float | None = None

    def __post_init__(self) -> None:
        self.durations = [p.duration_min * 60 if p.duration_min else None for p in self.preset.phases]
        self.extended = [0.0] * len(self.durations)
        self.phase_start = self.started_at

    @property
    def last(self) -> int:
        return len(self.durations) - 1

    def elapsed(self, t: float) -> float:
        # While frozen, time in phase is what it was at the freeze: computed from that moment, so
        # it does not drift by rounding as `t` grows.
        until = t if self.freeze_since is None else min(t, self.freeze_since)
        return max(0.0, until - self.phase_start - self.frozen_s)

    def run_until(self, t: float) -> None:
        """Make the automatic phase changes that happen up to and including time t."""
        while self.ended_at is None and self.freeze_since is None:
            d = self.durations[self.idx]
            if d is None:
                return
            end = self.phase_start + self.frozen_s + d
            if end > t:
                return
            self.enter(self.idx + 1, end)

    def enter(self, idx: int, t: float) -> None:
        self.history.append((self.idx, self.phase_start, t))
        self.idx, self.phase_start, self.frozen_s = idx, t, 0.0
        if self.freeze_since is not None:
            self.freeze_since = t

    def lengthen(self, idx: int, seconds: float) -> None:
        d = self.durations[idx]
        if d is not None:
            self.durations[idx] = d + seconds
            self.extended[idx] += seconds

    def freeze(self, reason: str, t: float) -> None:
        self.run_until(t)
        if self.freeze_since is None:
            self.freeze_since = t
            self.freeze_had_hold = False
        self.reasons.add(reason)
        self.freeze_had_hold |= reason == "hold"

    def thaw(self, reason: str, t: float) -> None:
        self.reasons.discard(reason)
        if self.reasons or self.freeze_since is None:
            return
        if self.freeze_had_hold or not self.panic_counts:
            self.frozen_s += t - self.freeze_since
        self.freeze_since = None
        self.run_until(t)


def replay(
    info: SessionInfo,
    events: Sequence[Event],
    now: float,
    *,
    panic_counts_toward_arc: bool = False,
) -> SessionState:
    """The state of a session at `now`, from its events alone."""
    if not events or events[0].type is not EventType.STARTED:
        raise ValueError("a session's first event must be 'started'")
    preset = info.preset
    arc = _Arc(preset, events[0].at, panic_counts_toward_arc)
    dose_at: float | None = None
    boosters: list[float] = []
    acks = _acks(events)
    panic = False

    for event in events[1:]:
        t = event.at
        arc.run_until(t)
        match event.type:
            case EventType.DOSE_GIVEN:
                dose_at = t
                if arc.idx == 0:
                    arc.enter(1, t)
            case EventType.BOOSTER_GIVEN:
                boosters.append(t)
                if preset.booster is not None:
                    target = max(preset.phase_index(preset.booster.extends_phase), arc.idx)
                    arc.lengthen(target, preset.booster.extend_min * 60)
            case EventType.PHASE_ADVANCED:
                if arc.idx < arc.last:
                    arc.enter(arc.idx + 1, t)
            case EventType.PHASE_EXTENDED:
                arc.lengthen(arc.idx, float(event.data.get("minutes", 0)) * 60)
            case EventType.HOLD:
                arc.freeze("hold", t)
            case EventType.RESUME:
                arc.thaw("hold", t)
            case EventType.PANIC:
                panic = True
                arc.freeze("panic", t)
            case EventType.PANIC_CLEARED:
                panic = False
                arc.thaw("panic", t)
            case EventType.ENDED:
                arc.history.append((arc.idx, arc.phase_start, t))
                arc.ended_at = t
            case _:  # notes, overrides, acknowledgements and music events leave the arc alone
                pass
        if arc.ended_at is not None:
            break

    if arc.ended_at is None:
        arc.run_until(now)
    at = arc.ended_at if arc.ended_at is not None else now
    held = "hold" in arc.reasons and arc.ended_at is None
    panic = panic and arc.ended_at is None

    remaining: float | None = None
    if arc.ended_at is None and (d := arc.durations[arc.idx]) is not None:
        remaining = max(0.0, d - arc.elapsed(now))

    phases = _phase_spans(preset, arc, now, remaining)
    cues = list(_cue_views(preset, events[0].at, dose_at, acks, until=at + (0 if arc.ended_at else _CUE_LOOKAHEAD_S)))
    due = [c for c in cues if c.due_at <= at and c.acknowledged_at is None]
    upcoming = [c for c in cues if c.due_at > at and c.acknowledged_at is None]

    obs_until = dose_at + preset.min_observation_min * 60 if dose_at is not None else None
    current = preset.phases[arc.idx]
    status: Literal["arrival", "running", "held", "panic", "ended"]
    if arc.ended_at is not None:
        status = "ended"
    elif panic:
        status = "panic"
    elif held:
        status = "held"
    elif dose_at is None:
        status = "arrival"
    else:
        status = "running"

    return SessionState(
        session_id=info.id,
        room=info.room,
        preset_id=preset.id,
        client_label=info.client_label,
        now=now,
        status=status,
        started_at=events[0].at,
        ended_at=arc.ended_at,
        phase=current.name,
        phase_index=arc.idx,
        scene=current.scene,
        music=current.music,
        phase_started_at=arc.phase_start,
        time_in_phase_s=arc.elapsed(at),
        phase_remaining_s=remaining,
        dose_at=dose_at,
        time_since_dose_s=None if dose_at is None else at - dose_at,
        boosters_at=boosters,
        held=held,
        panic=panic,
        min_observation_until=obs_until,
        can_end_without_override=obs_until is None or at >= obs_until,
        phases=phases,
        next_cue=upcoming[0] if upcoming else None,
        due_cues=due,
        event_count=len(events),
    )


def _phase_spans(preset: Preset, arc: _Arc, now: float, remaining: float | None) -> list[PhaseSpan]:
    spans: list[PhaseSpan] = []
    for idx, start, end in arc.history:
        spans.append(_span(preset, arc, idx, "done", start, end))
    if arc.ended_at is not None:
        return spans
    current_end = None if remaining is None else now + remaining
    spans.append(_span(preset, arc, arc.idx, "current", arc.phase_start, current_end))
    t: float | None = current_end
    for idx in range(arc.idx + 1, len(preset.phases)):
        d = arc.durations[idx]
        upcoming_end = None if t is None or d is None else t + d
        spans.append(_span(preset, arc, idx, "upcoming", t, upcoming_end))
        t = upcoming_end
    return spans


def _span(
    preset: Preset,
    arc: _Arc,
    idx: int,
    status: Literal["done", "current", "upcoming"],
    start: float | None,
    end: float | None,
) -> PhaseSpan:
    phase = preset.phases[idx]
    return PhaseSpan(
        name=phase.name,
        scene=phase.scene,
        music=phase.music,
        status=status,
        start=start,
        end=end,
        duration_s=arc.durations[idx],
        extended_s=arc.extended[idx],
    )


def cue_offsets_min(rule: CueRule, horizon_min: float) -> list[float]:
    """Minutes after the anchor at which a rule's cue falls, up to `horizon_min`.

    Repeating cues fall at from_min + every_min, from_min + 2 * every_min, ... until until_min.
    """
    offsets = {t for t in rule.at_min if t <= horizon_min}
    if rule.every_min is not None:
        stop = min(horizon_min, rule.until_min if rule.until_min is not None else horizon_min)
        k = 1
        while (t := rule.from_min + k * rule.every_min) <= stop:
            offsets.add(t)
            k += 1
    return sorted(offsets)


def cue_id(rule: CueRule, offset_min: float) -> str:
    return f"{rule.id}@{offset_min:g}"


def _cue_views(
    preset: Preset, started_at: float, dose_at: float | None, acks: dict[str, float], until: float
) -> Iterable[CueView]:
    views: list[CueView] = []
    for rule in preset.cues:
        anchor = started_at if rule.anchor == "start" else dose_at
        if anchor is None:
            continue
        for offset in cue_offsets_min(rule, (until - anchor) / 60):
            cid = cue_id(rule, offset)
            views.append(
                CueView(
                    id=cid,
                    rule_id=rule.id,
                    label=rule.label,
                    kind=rule.kind,
                    due_at=anchor + offset * 60,
                    acknowledged_at=acks.get(cid),
                )
            )
    return sorted(views, key=lambda c: (c.due_at, c.id))


# --- Checks for commands: what the current state allows. Each raises Conflict or NotFound. ---


def check_open(state: SessionState) -> None:
    if state.ended_at is not None:
        raise Conflict(f"session {state.session_id} has ended")


def check_dose(state: SessionState, preset: Preset, *, booster: bool) -> None:
    check_open(state)
    if not booster:
        if state.dose_at is not None:
            raise Conflict("the first dose was already recorded; send booster: true for a supplemental dose")
        return
    if state.dose_at is None:
        raise Conflict("record the first dose before a booster")
    if preset.booster is None:
        raise Conflict(f"preset {preset.id!r} has no booster")
    if len(state.boosters_at) >= preset.booster.max_count:
        raise Conflict(f"preset {preset.id!r} allows {preset.booster.max_count} booster(s); already given")


def check_advance(state: SessionState) -> None:
    check_open(state)
    if state.dose_at is None:
        raise Conflict("record the dose to leave arrival")
    if state.phase_index == len(state.phases) - 1 or state.phase == "closing":
        raise Conflict("already in the last phase; end the session instead")


def check_extend(state: SessionState) -> None:
    check_open(state)
    if state.phase_remaining_s is None:
        raise Conflict(f"phase {state.phase!r} is open-ended; it lasts until the next action")


def check_hold(state: SessionState) -> None:
    check_open(state)
    if state.held:
        raise Conflict("the session is already on hold")


def check_resume(state: SessionState) -> None:
    check_open(state)
    if not state.held:
        raise Conflict("the session is not on hold")


def check_ack(state: SessionState, info: SessionInfo, events: Sequence[Event], cue: str) -> None:
    """A cue can be acknowledged once, when it is due or upcoming within its look-ahead."""
    check_open(state)
    known = {
        c.id: c
        for c in _cue_views(
            info.preset, state.started_at, state.dose_at, _acks(events), until=state.now + _CUE_LOOKAHEAD_S
        )
    }
    if cue not in known:
        raise NotFound(f"no cue {cue!r} in this session")
    if known[cue].acknowledged_at is not None:
        raise Conflict(f"cue {cue!r} was already acknowledged")


def check_end(state: SessionState, override_reason: str | None) -> None:
    check_open(state)
    if not state.can_end_without_override and not (override_reason and override_reason.strip()):
        assert state.min_observation_until is not None
        left_min = (state.min_observation_until - state.now) / 60
        raise Conflict(
            f"the minimum observation time has not passed ({left_min:.0f} min left); send override_reason to end early"
        )


def _acks(events: Iterable[Event]) -> dict[str, float]:
    acks: dict[str, float] = {}
    for e in events:
        if e.type is EventType.CUE_ACKNOWLEDGED:
            acks.setdefault(str(e.data.get("cue_id")), e.at)
    return acks
