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

import copy
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.domain.errors import Conflict, DomainError, Invalid, NotFound
from app.domain.events import Event, EventType
from app.domain.presets import CueRule, Preset
from app.domain.readings import FIELDS, InvalidReading, Readings

# How far ahead repeating cues are listed, so the next one is always known.
_CUE_LOOKAHEAD_S = 24 * 3600
# A phase advanced by hand can be taken back this long after (a mis-tap, or the client was not ready).
UNDO_ADVANCE_S = 120.0


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


class DoseView(BaseModel):
    at: float
    booster: bool
    amount: float | None
    unit: str | None
    lot: str | None = None
    devices: int | None = None  # how many devices this dose is given as (Spravato)


class ReadingView(BaseModel):
    seq: int
    at: float
    cue_id: str | None  # None: an unscheduled reading
    kind: str | None
    values: dict[str, Any]
    by: str | None


class AlertView(BaseModel):
    id: str  # "a<seq>" of the alert event
    at: float
    kind: Literal["threshold", "fluids", "facilitators"]
    message: str
    field: str | None = None
    value: float | bool | None = None
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    reading_seq: int | None = None  # the reading that raised it; None for other alerts and older records


SessionCommand = Literal[
    "dose", "booster", "advance", "undo_advance", "extend", "hold", "resume", "note", "reading", "ready_to_leave", "end"
]


class CommandCheck(BaseModel):
    """Whether a session command would be accepted now: the same checks the command itself runs."""

    allowed: bool = Field(description="Accepted now (perhaps only with an override reason, see needs_override)")
    needs_override: bool = Field(
        default=False, description="Accepted only with override_reason, which is recorded (e.g. outside a window)"
    )
    reason: str | None = Field(default=None, description="Why it is refused, or what the override is for")


class FacilitatorView(BaseModel):
    name: str
    since: float


class SessionState(BaseModel):
    session_id: str = Field(description="The session's id")
    room: str = Field(description="The room it runs in")
    preset_id: str = Field(description="The preset it follows (snapshot taken at start)")
    client_label: str | None = Field(description="A pseudonym or initials")
    intention: str | None = Field(default=None, description="The client's intention, de-identified, as given at start")
    now: float = Field(description="The moment this state is for, epoch seconds")
    status: Literal["arrival", "running", "held", "panic", "ended"] = Field(
        description="arrival (before the dose), running, held, panic, or ended"
    )
    started_at: float = Field(description="Epoch seconds")
    ended_at: float | None = Field(description="Epoch seconds; None while running")
    phase: str = Field(description="The current phase's name")
    phase_index: int = Field(description="Its position in the preset, from 0")
    scene: str = Field(description="The current phase's lighting scene")
    music: str = Field(description="The current phase's music segment")
    phase_started_at: float = Field(description="When the current phase began, epoch seconds")
    time_in_phase_s: float = Field(description="Seconds in the current phase (frozen time excluded)")
    phase_remaining_s: float | None = Field(description="Seconds until the next phase; None if open-ended")
    dose_at: float | None = Field(description="When the first dose was given, epoch seconds")
    time_since_dose_s: float | None = Field(
        description="Seconds since the first dose (real time: holds and panics do not stop it)"
    )
    boosters_at: list[float] = Field(description="When each booster was given, epoch seconds")
    held: bool = Field(description="On hold (the arc is frozen)")
    panic: bool = Field(description="In panic (the arc is frozen)")
    min_observation_until: float | None = Field(
        description="The earliest end without an override reason, epoch seconds"
    )
    min_observation_basis: str | None = Field(
        description="Where that minimum comes from (e.g. Oregon's rule for the total dose)"
    )
    can_end_without_override: bool = Field(description="Whether the minimum observation time has passed")
    phases: list[PhaseSpan] = Field(description="Every phase: done, current and upcoming, with times")
    next_cue: CueView | None = Field(description="The next check to fall due")
    due_cues: list[CueView] = Field(description="Checks due now and not yet acknowledged")
    event_count: int = Field(description="Events in the session's log")
    doses: list[DoseView] = Field(description="Every dose and booster with its amount")
    total_dose: float | None = Field(
        description="Every dose added up, in the preset's unit; None if an amount is unknown"
    )
    devices_given: list[float] = Field(
        description="When each device was given (Spravato), epoch seconds; the first is the dose"
    )
    devices_planned: int | None = Field(description="Devices the dose needs (Spravato)")
    latest: dict[str, ReadingView] = Field(description="Per reading field, the latest reading that gave it")
    readings_count: int = Field(description="Readings recorded")
    fluids_ml: float = Field(description="Fluid intake recorded, millilitres")
    alerts: list[AlertView] = Field(description="Open alerts: raised and not yet acknowledged")
    facilitators: list[FacilitatorView] = Field(description="Facilitators signed in now")
    facilitators_required: int = Field(description="How many the preset requires")
    ready_to_leave_at: float | None = Field(description="When the client was judged ready to leave, epoch seconds")
    advance_undo_until: float | None = Field(
        default=None,
        description="Until when the last phase advance can be undone (POST .../advance/undo), epoch seconds; "
        "None when there is nothing to undo",
    )
    commands: dict[SessionCommand, CommandCheck] = Field(
        default_factory=dict,
        description="Each session command: whether it would be accepted now, and if not, why (the command's own "
        "check, so a client need not re-derive it)",
    )

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
    """The mutable walk through the events; a `SessionFold` owns one."""

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
    # Where the arc was before the last advance by hand, and until when that can be undone; dropped
    # by anything else that moves or freezes the arc, so an undo always restores an exact moment.
    before_advance: tuple[int, float, float, float | None, int] | None = None
    undo_until: float = 0.0

    def __post_init__(self) -> None:
        self.durations = [p.duration_min * 60 if p.duration_min else None for p in self.preset.phases]
        self.extended = [0.0] * len(self.durations)
        self.phase_start = self.started_at

    @property
    def last(self) -> int:
        return len(self.durations) - 1

    def copy(self) -> _Arc:
        twin = copy.copy(self)
        twin.durations, twin.extended = list(self.durations), list(self.extended)
        twin.reasons, twin.history = set(self.reasons), list(self.history)
        return twin

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
            self.before_advance = None
            self.enter(self.idx + 1, end)

    def enter(self, idx: int, t: float) -> None:
        self.history.append((self.idx, self.phase_start, t))
        self.idx, self.phase_start, self.frozen_s = idx, t, 0.0
        if self.freeze_since is not None:
            self.freeze_since = t

    def lengthen(self, idx: int, seconds: float) -> None:
        self.before_advance = None
        d = self.durations[idx]
        if d is not None:
            self.durations[idx] = d + seconds
            self.extended[idx] += seconds

    def advance(self, t: float) -> None:
        if self.idx < self.last:
            self.before_advance = (self.idx, self.phase_start, self.frozen_s, self.freeze_since, len(self.history))
            self.undo_until = t + UNDO_ADVANCE_S
            self.enter(self.idx + 1, t)

    def undo_advance(self, t: float) -> None:
        if self.before_advance is None or t > self.undo_until:
            return
        self.idx, self.phase_start, self.frozen_s, self.freeze_since, kept = self.before_advance
        del self.history[kept:]
        self.before_advance = None
        self.run_until(t)  # the phase may have run its course meanwhile

    def freeze(self, reason: str, t: float) -> None:
        self.before_advance = None
        self.run_until(t)
        if self.freeze_since is None:
            self.freeze_since = t
            self.freeze_had_hold = False
        self.reasons.add(reason)
        self.freeze_had_hold |= reason == "hold"

    def thaw(self, reason: str, t: float) -> None:
        self.before_advance = None
        self.reasons.discard(reason)
        if self.reasons or self.freeze_since is None:
            return
        if self.freeze_had_hold or not self.panic_counts:
            self.frozen_s += t - self.freeze_since
        self.freeze_since = None
        self.run_until(t)


class SessionFold:
    """A session's state folded one event at a time: `apply` each event once, then `at(now)` is a
    cheap projection (the phase changes due by `now` are made on a copy, so the fold stays as the
    events left it). `replay` is this fold run over a whole log, the reference it is tested against.
    """

    def __init__(self, info: SessionInfo, first: Event, *, panic_counts_toward_arc: bool = False) -> None:
        if first.type is not EventType.STARTED:
            raise ValueError("a session's first event must be 'started'")
        self.info = info
        self.started_at = first.at
        self.intention: str | None = first.data.get("intention")
        self.count = 1
        self._arc = _Arc(info.preset, first.at, panic_counts_toward_arc)
        self._dose_at: float | None = None
        self._boosters: list[float] = []
        self._panic = False
        self.acks: dict[str, float] = {}
        self.record = ClinicalRecord()
        self._last: SessionState | None = None  # the last projection, kept while nothing is applied

    def apply(self, event: Event) -> None:
        self.count += 1
        self._last = None
        if event.type is EventType.CUE_ACKNOWLEDGED:
            self.acks.setdefault(str(event.data.get("cue_id")), event.at)
        arc = self._arc
        if arc.ended_at is not None:
            return  # only the record's afterlife (e.g. the REMS form filed) follows the end
        t = event.at
        arc.run_until(t)
        self.record.take(event)
        match event.type:
            case EventType.DOSE_GIVEN:
                self._dose_at = t
                if arc.idx == 0:
                    arc.enter(1, t)
            case EventType.BOOSTER_GIVEN:
                self._boosters.append(t)
                if (booster := self.info.preset.booster) is not None:
                    target = max(self.info.preset.phase_index(booster.extends_phase), arc.idx)
                    arc.lengthen(target, booster.extend_min * 60)
            case EventType.PHASE_ADVANCED:
                arc.advance(t)
            case EventType.PHASE_ADVANCE_UNDONE:
                arc.undo_advance(t)
            case EventType.PHASE_EXTENDED:
                arc.lengthen(arc.idx, float(event.data.get("minutes", 0)) * 60)
            case EventType.HOLD:
                arc.freeze("hold", t)
            case EventType.RESUME:
                arc.thaw("hold", t)
            case EventType.PANIC:
                self._panic = True
                arc.freeze("panic", t)
            case EventType.PANIC_CLEARED:
                self._panic = False
                arc.thaw("panic", t)
            case EventType.ENDED:
                arc.history.append((arc.idx, arc.phase_start, t))
                arc.ended_at = t
            case _:  # notes, overrides, acknowledgements and music events leave the arc alone
                pass

    def at(self, now: float) -> SessionState:
        """The state at `now` (at or after the last event applied)."""
        last = self._last
        if last is not None and last.now == now:
            return last
        self._last = state = self._project(now)
        return state

    def _project(self, now: float) -> SessionState:
        preset = self.info.preset
        record = self.record
        arc = self._arc.copy()
        if arc.ended_at is None:
            arc.run_until(now)
        at = arc.ended_at if arc.ended_at is not None else now
        held = "hold" in arc.reasons and arc.ended_at is None
        panic = self._panic and arc.ended_at is None
        dose_at = self._dose_at

        remaining: float | None = None
        if arc.ended_at is None and (d := arc.durations[arc.idx]) is not None:
            remaining = max(0.0, d - arc.elapsed(now))

        phases = _phase_spans(preset, arc, now, remaining)
        horizon = at + (0 if arc.ended_at else _CUE_LOOKAHEAD_S)
        cues = cue_views(
            preset,
            self.started_at,
            dose_at,
            record.devices_planned,
            self.acks,
            record.readings,
            until=horizon,
            devices_given=record.devices,
            phase_starts=phase_starts_of(phases),
        )
        due = [c for c in cues if c.due_at <= at and c.acknowledged_at is None]
        upcoming = [c for c in cues if c.due_at > at and c.acknowledged_at is None]

        obs_min, basis = observation_min(preset, record.total_dose())
        obs_until = dose_at + obs_min * 60 if dose_at is not None else None
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

        state = SessionState(
            session_id=self.info.id,
            room=self.info.room,
            preset_id=preset.id,
            client_label=self.info.client_label,
            intention=self.intention,
            now=now,
            status=status,
            started_at=self.started_at,
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
            boosters_at=list(self._boosters),
            held=held,
            panic=panic,
            min_observation_until=obs_until,
            min_observation_basis=basis if dose_at is not None else None,
            can_end_without_override=obs_until is None or at >= obs_until,
            phases=phases,
            next_cue=upcoming[0] if upcoming else None,
            due_cues=due,
            event_count=self.count,
            doses=list(record.doses),
            total_dose=record.total_dose(),
            devices_given=list(record.devices),
            devices_planned=record.devices_planned,
            latest=record.latest(),
            readings_count=len(record.readings),
            fluids_ml=record.fluids_ml,
            alerts=[a for a in record.alerts.values() if a.acknowledged_at is None],
            facilitators=list(record.present.values()),
            facilitators_required=preset.facilitators_required,
            ready_to_leave_at=record.ready_at,
            advance_undo_until=(
                arc.undo_until
                if arc.before_advance is not None and arc.ended_at is None and now <= arc.undo_until
                else None
            ),
        )
        state.commands = command_checks(state, preset)
        return state


def replay(
    info: SessionInfo,
    events: Sequence[Event],
    now: float,
    *,
    panic_counts_toward_arc: bool = False,
) -> SessionState:
    """The state of a session at `now`, from its events alone: the fold, run over the whole log."""
    if not events:
        raise ValueError("a session's first event must be 'started'")
    fold = SessionFold(info, events[0], panic_counts_toward_arc=panic_counts_toward_arc)
    for event in events[1:]:
        fold.apply(event)
    return fold.at(now)


# Events whose meaning is in their data: once purged, nothing is taken from them.
_SAYS_WHO_OR_WHAT = {
    EventType.ALERT,
    EventType.ALERT_ACKNOWLEDGED,
    EventType.FACILITATOR_SIGNED_IN,
    EventType.FACILITATOR_SIGNED_OUT,
}


@dataclass
class ClinicalRecord:
    """The clinical record as the events build it: doses, readings, alerts, who is present."""

    @classmethod
    def of(cls, events: Iterable[Event]) -> ClinicalRecord:
        record = cls()
        for e in events:
            record.take(e)
        return record

    doses: list[DoseView] = field(default_factory=list)
    devices: list[float] = field(default_factory=list)
    devices_planned: int | None = None
    readings: list[ReadingView] = field(default_factory=list)
    alerts: dict[str, AlertView] = field(default_factory=dict)
    present: dict[str, FacilitatorView] = field(default_factory=dict)
    ready_at: float | None = None
    fluids_ml: float = 0.0

    def take(self, e: Event) -> None:
        d = e.data
        if not d and e.type in _SAYS_WHO_OR_WHAT:
            return  # purged (app/retention.py): the log keeps that it happened, not what it said
        match e.type:
            case EventType.DOSE_GIVEN | EventType.BOOSTER_GIVEN:
                amount = d.get("amount")
                devices = d.get("devices")
                self.doses.append(
                    DoseView(
                        at=e.at,
                        booster=e.type is EventType.BOOSTER_GIVEN,
                        amount=amount if isinstance(amount, int | float) else None,
                        unit=d.get("unit"),
                        lot=d.get("lot"),
                        devices=devices,
                    )
                )
                if e.type is EventType.DOSE_GIVEN and isinstance(devices, int):
                    self.devices_planned = devices
            case EventType.DEVICE_GIVEN:
                self.devices.append(e.at)
            case EventType.READING:
                values = dict(d.get("values", {}))
                self.readings.append(
                    ReadingView(
                        seq=e.seq, at=e.at, cue_id=d.get("cue_id"), kind=d.get("kind"), values=values, by=d.get("by")
                    )
                )
                self.fluids_ml += float(values.get("fluid_ml", 0))
            case EventType.ALERT:
                alert = AlertView(id=f"a{e.seq}", at=e.at, **{k: v for k, v in d.items() if k != "by"})
                self.alerts[alert.id] = alert
            case EventType.ALERT_ACKNOWLEDGED:
                if (open_ := self.alerts.get(str(d.get("alert_id")))) is not None and open_.acknowledged_at is None:
                    self.alerts[open_.id] = open_.model_copy(
                        update={"acknowledged_at": e.at, "acknowledged_by": d.get("facilitator") or d.get("by")}
                    )
            case EventType.FACILITATOR_SIGNED_IN:
                self.present[str(d["name"])] = FacilitatorView(name=str(d["name"]), since=e.at)
            case EventType.FACILITATOR_SIGNED_OUT:
                self.present.pop(str(d["name"]), None)
            case EventType.READY_TO_LEAVE:
                self.ready_at = e.at
            case _:
                pass

    def total_dose(self) -> float | None:
        if not self.doses or any(d.amount is None for d in self.doses):
            return None
        return sum(d.amount or 0 for d in self.doses)

    def latest(self) -> dict[str, ReadingView]:
        out: dict[str, ReadingView] = {}
        for r in self.readings:
            for name in r.values:
                out[name] = r
        return out


def observation_min(preset: Preset, total_dose: float | None) -> tuple[float, str]:
    """The minimum observation from the first dose, and why: the preset's, or its dose rule's if longer."""
    floor = preset.min_observation_min
    rule = preset.dose
    by_dose = rule.min_session_min(total_dose) if rule else None
    if rule is None or by_dose is None or by_dose < floor:
        return floor, f"the preset's minimum ({floor:g} min)"
    if total_dose is None:
        return by_dose, f"dose amount not recorded: the longest minimum of {rule.min_session_source} ({by_dose:g} min)"
    return by_dose, f"{rule.min_session_source}: {total_dose:g} {rule.unit} in total, at least {by_dose:g} min"


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


def phase_starts_of(phases: Iterable[PhaseSpan]) -> dict[str, float]:
    """When each phase began, or is planned to begin (a phase entered twice, after an undone advance,
    counts from its latest start)."""
    return {p.name: p.start for p in phases if p.start is not None}


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


DEVICE_RULE = "device"


def device_cue_id(n: int, interval_min: float) -> str:
    # Named by the nominal offset (device@5, device@10), which stays the same when a device is given
    # late: the ids in stored acknowledgements keep meaning the same device.
    return f"{DEVICE_RULE}@{(n - 1) * interval_min:g}"


def cue_views(
    preset: Preset,
    started_at: float,
    dose_at: float | None,
    devices_planned: int | None,
    acks: dict[str, float],
    readings: Sequence[ReadingView],
    until: float,
    devices_given: Sequence[float],
    phase_starts: Mapping[str, float],
) -> list[CueView]:
    """Every cue of the session up to `until`: the preset's rules, and the dose's next device.

    `phase_starts`: each phase's start, actual or planned (`phase_starts_of`), for cues that count
    from a phase: they move when it does.

    Device n falls due `interval_min` after device n-1 was recorded, not on a grid from the first:
    a late second device moves the third. So device n is listed only once device n-1 is recorded
    (before then its time is not known); `check_ack` refuses it with a 409 until then.
    """
    views: list[CueView] = []
    for rule in preset.cues:
        if rule.phase is not None:
            anchor = phase_starts.get(rule.phase)  # None while its start is not known (before the dose)
        else:
            anchor = started_at if rule.anchor == "start" else dose_at
        if anchor is None:
            continue
        for offset in cue_offsets_min(rule, (until - anchor) / 60):
            due_at = anchor + offset * 60
            if rule.while_above and not _still_above(rule, readings, due_at):
                continue
            cid = cue_id(rule, offset)
            views.append(
                CueView(
                    id=cid,
                    rule_id=rule.id,
                    label=rule.label,
                    kind=rule.kind,
                    due_at=due_at,
                    acknowledged_at=acks.get(cid),
                )
            )
    devices = preset.dose.devices if preset.dose else None
    if devices is not None and dose_at is not None and devices_planned:
        given = list(devices_given) or [dose_at]  # the first device is recorded with the dose
        for n in range(2, min(devices_planned, len(given) + 1) + 1):
            cid = device_cue_id(n, devices.interval_min)
            views.append(
                CueView(
                    id=cid,
                    rule_id=DEVICE_RULE,
                    label=f"Device {n} of {devices_planned} ({devices.mg_per_device:g} mg)",
                    kind=DEVICE_RULE,
                    due_at=given[n - 2] + devices.interval_min * 60,
                    acknowledged_at=acks.get(cid),
                )
            )
    return sorted(views, key=lambda c: (c.due_at, c.id))


def _still_above(rule: CueRule, readings: Sequence[ReadingView], due_at: float) -> bool:
    """Whether the latest reading of the rule's fields before `due_at` was above any of its limits."""
    for r in reversed(readings):
        if r.at < due_at and any(f in r.values for f in rule.while_above):
            return rule.above(r.values)
    return False


# --- Checks for commands: what the current state allows. Each raises Conflict or NotFound. ---


def check_open(state: SessionState) -> None:
    if state.ended_at is not None:
        raise Conflict(f"session {state.session_id} has ended")


@dataclass(frozen=True)
class DosePlan:
    """What a dose command records: the dose's data, and an override when it was given against a rule."""

    data: dict[str, Any]
    devices: int | None = None
    override: dict[str, Any] | None = None


def check_dose(
    state: SessionState,
    preset: Preset,
    *,
    booster: bool,
    amount: float | None = None,
    unit: str | None = None,
    lot: str | None = None,
    override_reason: str | None = None,
) -> DosePlan:
    check_open(state)
    if not booster:
        if state.dose_at is not None:
            raise Conflict("the first dose was already recorded; send booster: true for a supplemental dose")
    else:
        if state.dose_at is None:
            raise Conflict("record the first dose before a booster")
        if preset.booster is None:
            raise Conflict(f"preset {preset.id!r} has no booster")
        if len(state.boosters_at) >= preset.booster.max_count:
            raise Conflict(f"preset {preset.id!r} allows {preset.booster.max_count} booster(s); already given")
    rule = preset.dose
    if amount is not None and rule is not None:
        if unit is not None and unit != rule.unit:
            raise Invalid(f"unit: preset {preset.id!r} doses in {rule.unit}, not {unit}")
        unit = rule.unit
    if amount is not None and unit is None:
        raise Invalid("unit: give the dose's unit (e.g. mg) with its amount")
    data: dict[str, Any] = {"amount": amount, "unit": unit} if amount is not None else {}
    if lot:
        data["lot"] = lot
    devices = None
    if rule is not None and rule.devices is not None and not booster:
        per = rule.devices.mg_per_device
        count = None if amount is None else amount / per
        if count is None or count != int(count) or not 1 <= count <= rule.devices.max_devices:
            options = ", ".join(f"{per * n:g}" for n in range(1, rule.devices.max_devices + 1))
            raise Invalid(f"amount: give the dose in mg as whole devices of {per:g} mg: {options}")
        devices = int(count)
        data["devices"] = devices
    if rule is not None and rule.max_total is not None and amount is not None:
        total = (state.total_dose or 0) + amount
        if total > rule.max_total:
            raise Conflict(
                f"{total:g} {rule.unit} in total is more than {rule.max_total:g} {rule.unit}, "
                f"the most {rule.min_session_source or 'the preset'} allows in a session"
            )
    override = None
    if booster and preset.booster is not None and state.dose_at is not None:
        b = preset.booster
        since_min = (state.now - state.dose_at) / 60
        if not b.offer_from_min <= since_min <= b.offer_until_min:
            window = f"{b.offer_from_min:g}-{b.offer_until_min:g} min after the first dose"
            if not (override_reason and override_reason.strip()):
                raise Conflict(
                    f"the booster window is {window}; it is now {since_min:.0f} min. "
                    "Send override_reason to give it outside the window"
                )
            override = {"rule": "booster_window", "reason": override_reason, "window": window, "at_min": since_min}
    return DosePlan(data, devices, override)


def check_advance(state: SessionState) -> None:
    check_open(state)
    if state.dose_at is None:
        raise Conflict("record the dose to leave arrival")
    if state.phase_index == len(state.phases) - 1 or state.phase == "closing":
        raise Conflict("already in the last phase; end the session instead")


def check_undo_advance(state: SessionState) -> None:
    check_open(state)
    if state.advance_undo_until is None:
        raise Conflict(
            f"nothing to undo: a phase advance can be undone for {UNDO_ADVANCE_S / 60:g} minutes, "
            "and only while nothing else has moved or frozen the arc since"
        )


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


def check_ack(
    state: SessionState,
    fold: SessionFold,
    cue: str,
    readings: Readings | None = None,
    not_taken_reason: str | None = None,
) -> CueView:
    """A cue can be acknowledged once it is due, once, with the readings its kind asks for."""
    check_open(state)
    info, record = fold.info, fold.record
    known = {
        c.id: c
        for c in cue_views(
            info.preset,
            state.started_at,
            state.dose_at,
            record.devices_planned,
            fold.acks,
            record.readings,
            until=state.now + _CUE_LOOKAHEAD_S,
            devices_given=record.devices,
            phase_starts=phase_starts_of(state.phases),
        )
    }
    if cue not in known:
        _check_device_order(info.preset, record, cue)
        raise NotFound(f"no cue {cue!r} in this session")
    view = known[cue]
    if view.acknowledged_at is not None:
        raise Conflict(f"cue {cue!r} was already acknowledged")
    if view.due_at > state.now:
        raise Conflict(
            f"cue {cue!r} is not due until {iso_utc(view.due_at)} (in {_wait(view.due_at - state.now)}); "
            "it cannot be acknowledged before then. A reading taken now can be recorded as an unscheduled one"
        )
    form = info.preset.readings.get(view.kind)
    given = readings.given() if readings else {}
    if form is not None and not (not_taken_reason and not_taken_reason.strip()):
        missing = [f for f in form.required if f not in given]
        if missing:
            what = ", ".join(f"{FIELDS[f].label.lower()} ({f})" for f in missing)
            raise InvalidReading(
                f"readings.{missing[0]}: the {view.kind.replace('_', ' ')} check asks for {what}; "
                "give them, or not_taken_reason"
            )
    return view


def _check_device_order(preset: Preset, record: ClinicalRecord, cue: str) -> None:
    """A later device of the dose, asked for before the one before it was recorded: 409, naming that one."""
    devices = preset.dose.devices if preset.dose else None
    planned = record.devices_planned
    if devices is None or not planned or not record.devices:
        return
    for n in range(len(record.devices) + 2, planned + 1):
        if cue == device_cue_id(n, devices.interval_min):
            first = len(record.devices) + 1
            raise Conflict(
                f"device {first} of {planned} ({device_cue_id(first, devices.interval_min)}) comes first: "
                f"device {n} falls due {devices.interval_min:g} min after device {n - 1} is recorded"
            )


def check_reading(state: SessionState, readings: Readings) -> None:
    """An unscheduled reading: any time the session is open, with at least one value."""
    check_open(state)
    if not readings.given():
        raise InvalidReading("readings: give at least one value")


def check_alert_ack(state: SessionState, record: ClinicalRecord, alert_id: str, facilitator: str | None) -> None:
    check_open(state)
    alert = record.alerts.get(alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id!r} in this session")
    if alert.acknowledged_at is not None:
        raise Conflict(f"alert {alert_id!r} was already acknowledged by {alert.acknowledged_by}")
    if facilitator is not None and facilitator not in record.present:
        raise Conflict(f"{facilitator!r} is not signed in as a facilitator of this session")


def check_sign_in(state: SessionState, name: str) -> None:
    check_open(state)
    if any(f.name == name for f in state.facilitators):
        raise Conflict(f"{name!r} is already signed in")


def check_sign_out(state: SessionState, name: str) -> None:
    check_open(state)
    if not any(f.name == name for f in state.facilitators):
        raise NotFound(f"{name!r} is not signed in to this session")


def check_ready_to_leave(state: SessionState) -> None:
    check_open(state)
    if state.dose_at is None:
        raise Conflict("record the dose first: ready to leave is counted from it")
    if state.ready_to_leave_at is not None:
        raise Conflict(f"ready to leave was already recorded at {iso_utc(state.ready_to_leave_at)}")


def command_checks(state: SessionState, preset: Preset) -> dict[SessionCommand, CommandCheck]:
    """What each command's own check says of `state`: refused (409) with its reason, accepted only
    with an override reason, or accepted. A check that fails only on the values given (a 422: a dose
    not in whole devices) says nothing about now, so it counts as accepted."""
    checks: dict[SessionCommand, Callable[[str | None], object]] = {
        "dose": lambda why: check_dose(state, preset, booster=False, override_reason=why),
        "booster": lambda why: check_dose(state, preset, booster=True, override_reason=why),
        "advance": lambda _: check_advance(state),
        "undo_advance": lambda _: check_undo_advance(state),
        "extend": lambda _: check_extend(state),
        "hold": lambda _: check_hold(state),
        "resume": lambda _: check_resume(state),
        "note": lambda _: check_open(state),
        "reading": lambda _: check_open(state),
        "ready_to_leave": lambda _: check_ready_to_leave(state),
        "end": lambda why: check_end(state, why),
    }
    return {name: _command_check(check) for name, check in checks.items()}


def _command_check(check: Callable[[str | None], object]) -> CommandCheck:
    try:
        check(None)
    except Conflict as refused:
        try:
            check("override")
        except Conflict:
            return CommandCheck(allowed=False, reason=refused.message)
        except DomainError:
            pass
        return CommandCheck(allowed=True, needs_override=True, reason=refused.message)
    except DomainError:
        pass
    return CommandCheck(allowed=True)


def iso_utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _wait(seconds: float) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def check_end(state: SessionState, override_reason: str | None) -> None:
    check_open(state)
    if not state.can_end_without_override and not (override_reason and override_reason.strip()):
        assert state.min_observation_until is not None
        left_min = (state.min_observation_until - state.now) / 60
        raise Conflict(
            f"the minimum observation time has not passed ({left_min:.0f} min left); send override_reason to end early"
        )
