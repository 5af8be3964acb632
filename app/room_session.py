"""A room's session: its events, the state folded from them, and the commands that append to them.

One per room, owned by the room (`RoomController.sessions`); it holds the running session, if
any. State is never stored: each event is applied once to the session's fold as it is appended,
and the state at `now` is the fold's projection (`replay` over the log gives the same, by test).
It also remembers, in memory, what it has already *announced* (the phase entered, the cues
fired), so that a restart announces nothing that happened while it was away and resets nothing
in the room. The scheduler (`app/engine.py`) asks it when it next has something due.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app.domain import session as arc
from app.domain.alerts import reading_alerts, staffing_alert
from app.domain.clock import Clock
from app.domain.errors import Conflict
from app.domain.events import Event, EventType
from app.domain.presets import Preset, find_preset
from app.domain.readings import Readings
from app.domain.session import SessionInfo, SessionState
from app.store import EventStore, StoredSession

log = logging.getLogger(__name__)

NoticeKind = Literal["session_started", "phase", "cue", "event", "alert", "session_ended"]
NoticeListener = Callable[["Notice"], None]


@dataclass(frozen=True)
class Notice:
    """Something the room's listeners should know; `state` is the session right after it."""

    room: str
    kind: NoticeKind
    at: float
    state: SessionState
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Live:
    info: SessionInfo
    events: list[Event]
    fold: arc.SessionFold
    announced_phase: int = -1
    announced_cues: set[str] = field(default_factory=set)
    # (events seen, next deadline): while a session runs on its own (not held, not in panic) its next
    # phase change and next cue follow from its events alone, so until one of them is added or the
    # deadline comes, the scheduler need not look at it each time another room wakes it.
    quiet: tuple[int, float | None] | None = None

    def quiet_at(self, now: float) -> bool:
        q = self.quiet
        return q is not None and q[0] == len(self.events) and (q[1] is None or q[1] > now)


class RoomSession:
    """The session running in one room (or none), and every command on it."""

    def __init__(
        self,
        room: str,
        store: EventStore,
        presets: Mapping[str, Preset],
        clock: Clock,
        *,
        notify: NoticeListener,
        wake: Callable[[], None],
        panic_counts_toward_arc: bool = False,
    ) -> None:
        self.room = room
        self.store = store
        self.presets = presets
        self.clock = clock
        self._notify = notify
        self._wake = wake
        self._panic_counts = panic_counts_toward_arc
        self._live: _Live | None = None
        self._listeners: list[NoticeListener] = []

    # --- lifecycle ---------------------------------------------------------------------------

    def listen(self, listener: NoticeListener) -> None:
        """Call `listener` with this room's notices, synchronously, in the order they happen (before
        any listener of every room's): the room acts on a phase change before the command returns."""
        self._listeners.append(listener)

    def resume_stored(self, stored: StoredSession) -> SessionState:
        """Pick up an unfinished session where the clock says it is, announcing nothing old."""
        live = self._live_of(stored.info, self.store.events(stored.info.id))
        state = live.fold.at(self.clock.now())
        live.announced_phase = state.phase_index
        live.announced_cues = {c.id for c in state.due_cues}
        self._live = live
        t = state.time_in_phase_s
        log.info("resumed session %s in %s: phase %s, %.0f s in", stored.info.id, self.room, state.phase, t)
        return state

    # --- queries -----------------------------------------------------------------------------

    def state(self) -> SessionState | None:
        live = self._live
        return live.fold.at(self.clock.now()) if live else None

    def events(self) -> list[Event] | None:
        """The running session's events (a copy), or None when the room is idle."""
        return list(self._live.events) if self._live else None

    def running(self) -> tuple[SessionInfo, list[Event], SessionState] | None:
        live = self._live
        return (live.info, list(live.events), live.fold.at(self.clock.now())) if live else None

    def preset(self, preset_id: str) -> Preset:
        return find_preset(self.presets, preset_id)

    # --- commands ----------------------------------------------------------------------------

    def start(
        self,
        preset_id: str,
        client_label: str | None = None,
        playlist: str | None = None,
        by: str | None = None,
        intention: str | None = None,
    ) -> SessionState:
        preset = self.preset(preset_id)
        if self._live is not None:
            raise Conflict(f"room {self.room!r} already has a session running ({self._live.info.id})")
        info = SessionInfo(id=uuid.uuid4().hex, room=self.room, preset=preset, client_label=client_label)
        now = self.clock.now()
        data = {
            "preset": preset.id,
            **({"playlist": playlist} if playlist else {}),
            **({"intention": intention} if intention else {}),
            **_by(by),
        }
        first = self.store.create_session(info, now, data)
        live = self._live = self._live_of(info, [first])
        return self._changed(live, now, "session_started", data)

    def dose(
        self,
        *,
        booster: bool = False,
        amount: float | None = None,
        unit: str | None = None,
        lot: str | None = None,
        override_reason: str | None = None,
        by: str | None = None,
    ) -> SessionState:
        """The first dose (or a booster); a dose given as devices records the first device with it."""
        live = self._require()
        now = self.clock.now()
        state = live.fold.at(now)
        preset = live.info.preset
        plan = arc.check_dose(
            state, preset, booster=booster, amount=amount, unit=unit, lot=lot, override_reason=override_reason
        )
        if plan.override is not None:
            self._append(live, now, EventType.OVERRIDE, {**plan.override, **_by(by)})
        type_ = EventType.BOOSTER_GIVEN if booster else EventType.DOSE_GIVEN
        data = {**plan.data, **_by(by)}
        self._append(live, now, type_, data)
        if plan.devices is not None:
            self._append(live, now, EventType.DEVICE_GIVEN, {"device": 1, "of": plan.devices, **_by(by)})
        alerts = []
        if not booster:
            alert = staffing_alert(preset, len(state.facilitators), now)
            alerts = [alert] if alert else []
        return self._changed_with_alerts(live, now, {"type": type_.value, **data}, alerts, by)

    def advance(self, by: str | None = None) -> SessionState:
        live = self._require()
        state = live.fold.at(self.clock.now())
        return self._command(live, EventType.PHASE_ADVANCED, {"from": state.phase, **_by(by)}, arc.check_advance)

    def undo_advance(self, by: str | None = None) -> SessionState:
        """Back to the phase the last advance left, as if it had not been left (within UNDO_ADVANCE_S)."""
        live = self._require()
        state = live.fold.at(self.clock.now())
        return self._command(
            live, EventType.PHASE_ADVANCE_UNDONE, {"phase": state.phase, **_by(by)}, arc.check_undo_advance
        )

    def extend(self, minutes: float, by: str | None = None) -> SessionState:
        live = self._require()
        state = live.fold.at(self.clock.now())
        return self._command(
            live, EventType.PHASE_EXTENDED, {"phase": state.phase, "minutes": minutes, **_by(by)}, arc.check_extend
        )

    def hold(self, by: str | None = None) -> SessionState:
        return self._command(self._require(), EventType.HOLD, _by(by), arc.check_hold)

    def resume(self, by: str | None = None) -> SessionState:
        return self._command(self._require(), EventType.RESUME, _by(by), arc.check_resume)

    def note(self, text: str, by: str | None = None) -> SessionState:
        return self._command(self._require(), EventType.NOTE, {"text": text, **_by(by)}, arc.check_open)

    def acknowledge(
        self,
        cue_id: str,
        readings: Readings | None = None,
        not_taken_reason: str | None = None,
        by: str | None = None,
    ) -> SessionState:
        """A due cue, done: its readings (an event of their own), the device it stands for, then the ack."""
        live = self._require()
        now = self.clock.now()
        state = live.fold.at(now)
        cue = arc.check_ack(state, live.fold, cue_id, readings, not_taken_reason)
        alerts = self._record_reading(live, now, state, readings, cue.id, cue.kind, by)
        if cue.rule_id == arc.DEVICE_RULE:
            n = len(state.devices_given) + 1
            self._append(live, now, EventType.DEVICE_GIVEN, {"device": n, "of": state.devices_planned, **_by(by)})
        data: dict[str, Any] = {"cue_id": cue_id, **_by(by)}
        if not_taken_reason and not (readings and readings.given()):
            data["not_taken_reason"] = not_taken_reason
        self._append(live, now, EventType.CUE_ACKNOWLEDGED, data)
        return self._changed_with_alerts(live, now, {"type": EventType.CUE_ACKNOWLEDGED.value, **data}, alerts, by)

    def record_reading(self, readings: Readings, kind: str | None = None, by: str | None = None) -> SessionState:
        """An unscheduled reading, at any time the session is open."""
        live = self._require()
        now = self.clock.now()
        state = live.fold.at(now)
        arc.check_reading(state, readings)
        alerts = self._record_reading(live, now, state, readings, None, kind, by)
        return self._changed_with_alerts(live, now, {"type": EventType.READING.value, **_by(by)}, alerts, by)

    def acknowledge_alert(self, alert_id: str, facilitator: str | None = None, by: str | None = None) -> SessionState:
        live = self._require()
        data: dict[str, Any] = {"alert_id": alert_id, **_by(by)}
        if facilitator:
            data["facilitator"] = facilitator
        return self._command(
            live,
            EventType.ALERT_ACKNOWLEDGED,
            data,
            lambda s: arc.check_alert_ack(s, live.fold.record, alert_id, facilitator),
        )

    def sign_in(self, name: str, by: str | None = None) -> SessionState:
        live = self._require()
        return self._command(
            live, EventType.FACILITATOR_SIGNED_IN, {"name": name, **_by(by)}, lambda s: arc.check_sign_in(s, name)
        )

    def sign_out(self, name: str, by: str | None = None) -> SessionState:
        """A facilitator leaves; from the dose on, leaving fewer than the preset requires raises an alert."""
        live = self._require()
        now = self.clock.now()
        state = live.fold.at(now)
        arc.check_sign_out(state, name)
        data = {"name": name, **_by(by)}
        self._append(live, now, EventType.FACILITATOR_SIGNED_OUT, data)
        alert = staffing_alert(live.info.preset, len(state.facilitators) - 1, state.dose_at)
        return self._changed_with_alerts(
            live, now, {"type": EventType.FACILITATOR_SIGNED_OUT.value, **data}, [alert] if alert else [], by
        )

    def ready_to_leave(self, by: str | None = None) -> SessionState:
        """The facilitators judge the client ready to leave (the REMS form asks when)."""
        return self._command(self._require(), EventType.READY_TO_LEAVE, _by(by), arc.check_ready_to_leave)

    def panic(self, by: str) -> SessionState | None:
        """Freeze the session (if one runs) in panic; a second panic changes nothing."""
        live = self._live
        if live is None:
            return None
        now = self.clock.now()
        state = live.fold.at(now)
        if state.panic:
            log.warning("panic in %s while already in panic (by %s): nothing more to record", self.room, by)
            return state
        self._append(live, now, EventType.PANIC, {"by": by})
        return self._changed(live, now, "event", {"type": EventType.PANIC.value, "by": by})

    def clear_panic(self, mode: str, by: str) -> SessionState | None:
        """End the panic. mode "hold" leaves the arc on hold until the therapist resumes it."""
        live = self._live
        if live is None:
            return None
        now = self.clock.now()
        state = live.fold.at(now)
        if state.panic:
            self._append(live, now, EventType.PANIC_CLEARED, {"mode": mode, "by": by})
            if mode == "hold" and not state.held:
                self._append(live, now, EventType.HOLD, {"reason": "after panic", "by": by})
        elif mode == "restore" and state.held:
            self._append(live, now, EventType.RESUME, {"reason": "room restored after panic", "by": by})
        return self._changed(live, now, "event", {"type": EventType.PANIC_CLEARED.value, "mode": mode})

    def record(self, type_: EventType, data: dict[str, Any]) -> None:
        """Log what the room's music did in the running session, if there is one (no arc change)."""
        live = self._live
        now = self.clock.now()
        if live is not None and live.fold.at(now).ended_at is None:
            self._append(live, now, type_, data)

    def end(self, override_reason: str | None = None, by: str | None = None) -> SessionState:
        live = self._require()
        now = self.clock.now()
        state = live.fold.at(now)
        arc.check_end(state, override_reason)
        if not state.can_end_without_override:
            self._append(
                live,
                now,
                EventType.OVERRIDE,
                {
                    "rule": "min_observation",
                    "reason": override_reason,
                    "min_observation_until": state.min_observation_until,
                    **_by(by),
                },
            )
        self._append(live, now, EventType.ENDED, _by(by))
        self._live = None
        return self._changed(live, now, "session_ended", {})

    def rems_filed(self, session_id: str, data: dict[str, Any]) -> Event | None:
        """The REMS form marked filed, when `session_id` is the one running here (else None)."""
        live = self._live
        if live is None or live.info.id != session_id:
            return None
        now = self.clock.now()
        event = self._append(live, now, EventType.REMS_FILED, data)
        self._changed(live, now, "event", {"type": EventType.REMS_FILED.value, **data})
        return event

    # --- the scheduler's side ----------------------------------------------------------------

    def deadline(self, now: float) -> float | None:
        """When this session next has something due of its own (a phase change, a cue), if ever."""
        live = self._live
        if live is None:
            return None
        if live.quiet_at(now):
            return live.quiet[1] if live.quiet else None
        state = live.fold.at(now)
        deadlines = []
        if state.next_phase_at is not None:
            deadlines.append(state.next_phase_at)
        if not state.panic and state.next_cue is not None:
            deadlines.append(state.next_cue.due_at)
        deadline = min(deadlines, default=None)
        live.quiet = (len(live.events), deadline) if state.status in ("arrival", "running") else None
        return deadline

    def announce_due(self, now: float) -> None:
        """Announce what has come due by `now` (unless nothing of its own has, and nothing was added)."""
        live = self._live
        if live is not None and not live.quiet_at(now):
            self._announce(live, now)

    # --- internals ---------------------------------------------------------------------------

    def _live_of(self, info: SessionInfo, events: list[Event]) -> _Live:
        fold = arc.SessionFold(info, events[0], panic_counts_toward_arc=self._panic_counts)
        for event in events[1:]:
            fold.apply(event)
        return _Live(info, events, fold)

    def _require(self) -> _Live:
        if self._live is None:
            raise Conflict(f"room {self.room!r} has no session running; start one first")
        return self._live

    def _command(
        self, live: _Live, type_: EventType, data: dict[str, Any], check: Callable[[SessionState], object]
    ) -> SessionState:
        now = self.clock.now()
        check(live.fold.at(now))
        self._append(live, now, type_, data)
        return self._changed(live, now, "event", {"type": type_.value, **data})

    def _record_reading(
        self,
        live: _Live,
        now: float,
        state: SessionState,
        readings: Readings | None,
        cue_id: str | None,
        kind: str | None,
        by: str | None,
    ) -> list[dict[str, Any]]:
        """Append a reading (if it has values); return the alerts it raises, to be appended after it."""
        values = readings.given() if readings else {}
        if not values:
            return []
        reading = self._append(
            live, now, EventType.READING, {"cue_id": cue_id, "kind": kind, "values": values, **_by(by)}
        )
        # Each alert names its reading: one high blood pressure is one thing to see, not two.
        alerts = reading_alerts(live.info.preset, values, state.dose_at, state.fluids_ml)
        return [{**alert, "reading_seq": reading.seq} for alert in alerts]

    def _changed_with_alerts(
        self, live: _Live, now: float, detail: dict[str, Any], alerts: list[dict[str, Any]], by: str | None
    ) -> SessionState:
        """The command's notice, then one "alert" notice for each alert it raised (each an event too)."""
        raised: list[tuple[NoticeKind, dict[str, Any]]] = []
        for alert in alerts:
            event = self._append(live, now, EventType.ALERT, {**alert, **_by(by)})
            raised.append(("alert", {"id": f"a{event.seq}", "at": now, **alert}))
        notices: list[tuple[NoticeKind, dict[str, Any]]] = [("event", detail), *raised]
        state = self._announce(live, now, force=notices)
        self._wake()
        return state

    def _append(self, live: _Live, now: float, type_: EventType, data: dict[str, Any]) -> Event:
        event = self.store.append(live.info.id, now, type_, data)
        live.events.append(event)
        live.fold.apply(event)
        return event

    def _changed(self, live: _Live, now: float, kind: NoticeKind, detail: dict[str, Any]) -> SessionState:
        state = self._announce(live, now, force=[(kind, detail)])
        self._wake()  # the next deadline may have moved
        return state

    def _announce(
        self, live: _Live, now: float, force: list[tuple[NoticeKind, dict[str, Any]]] | None = None
    ) -> SessionState:
        """Publish what is new since the last announcement: phase entered, cues due, the change itself."""
        state = live.fold.at(now)
        room = self.room
        notices: list[Notice] = [Notice(room, kind, now, state, detail) for kind, detail in force or []]
        if state.ended_at is None and state.phase_index != live.announced_phase:
            live.announced_phase = state.phase_index
            notices.append(
                Notice(room, "phase", now, state, {"phase": state.phase, "scene": state.scene, "music": state.music})
            )
        if not state.panic:
            for cue in state.due_cues:
                if cue.id not in live.announced_cues:
                    live.announced_cues.add(cue.id)
                    notices.append(Notice(room, "cue", now, state, cue.model_dump()))
        for notice in notices:
            log.info("%s %s %s", room, notice.kind, notice.detail)
            for listener in self._listeners:
                try:
                    listener(notice)
                except Exception:  # one listener's bug must not stop the session or the others
                    log.exception("a listener failed on %s %s", room, notice.kind)
            self._notify(notice)
        return state


def _by(by: str | None) -> dict[str, str]:
    """Who gave the command (the token's name, e.g. "http:tablet-1"), for the event's data."""
    return {"by": by} if by else {}
