"""The session engine: commands append events, a scheduler fires phase changes and cues on time.

State is never stored: each event is applied once to the session's fold as it is appended, and
the state at `now` is the fold's projection (`replay` over the log gives the same, by test). The
engine also remembers, in memory, what it has already *announced* (the phase entered, the cues
fired), so that a restart announces nothing that happened while it was away and resets nothing in
the room.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app.domain import session as arc
from app.domain.alerts import reading_alerts, staffing_alert
from app.domain.clock import Clock, sleep_until_or_woken
from app.domain.errors import Conflict, NotFound
from app.domain.events import Event, EventType
from app.domain.presets import Preset
from app.domain.readings import Readings
from app.domain.rooms import Room
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
    # deadline comes, the scheduler need not replay it each time another room wakes it.
    quiet: tuple[int, float | None] | None = None

    def quiet_at(self, now: float) -> bool:
        q = self.quiet
        return q is not None and q[0] == len(self.events) and (q[1] is None or q[1] > now)


class SessionEngine:
    def __init__(
        self,
        store: EventStore,
        presets: Mapping[str, Preset],
        rooms: Mapping[str, Room],
        clock: Clock,
        *,
        panic_counts_toward_arc: bool = False,
    ) -> None:
        self.store = store
        self.presets = presets
        self.rooms = rooms
        self.clock = clock
        self._panic_counts = panic_counts_toward_arc
        self._live: dict[str, _Live] = {}
        self._listeners: list[NoticeListener] = []
        self._wake = asyncio.Event()

    # --- lifecycle -------------------------------------------------------------------------

    def listen(self, listener: NoticeListener) -> None:
        """Call `listener` with every notice, synchronously, in the order they happen: a room acts on
        a phase change before the command that caused it returns."""
        self._listeners.append(listener)

    def load(self) -> list[SessionState]:
        """Pick up unfinished sessions where the clock says they are, announcing nothing old."""
        now = self.clock.now()
        resumed = []
        for stored in self.store.unfinished_sessions():
            if stored.info.room not in self.rooms:
                log.warning(
                    "session %s is in room %r, which is no longer configured; left as it is",
                    stored.info.id,
                    stored.info.room,
                )
                continue
            live = self._live_of(stored.info, self.store.events(stored.info.id))
            state = self._state(live, now)
            live.announced_phase = state.phase_index
            live.announced_cues = {c.id for c in state.due_cues}
            self._live[stored.info.room] = live
            resumed.append(state)
            log.info(
                "resumed session %s in %s: phase %s, %.0f s in",
                stored.info.id,
                stored.info.room,
                state.phase,
                state.time_in_phase_s,
            )
        return resumed

    async def run(self) -> None:
        """Fire phase changes and cues at their moment; runs until cancelled."""
        while True:
            self._wake.clear()
            await sleep_until_or_woken(self.clock, self._next_deadline(), self._wake)
            now = self.clock.now()
            for live in list(self._live.values()):
                if live.quiet_at(now):
                    continue  # nothing of its own has come due, and nothing was added to it
                try:
                    self._announce(live, now)
                except Exception:  # one broken session must not stop the others' cues
                    log.exception("announcing for session %s failed", live.info.id)

    # --- queries -----------------------------------------------------------------------------

    def room(self, room: str) -> Room:
        try:
            return self.rooms[room]
        except KeyError:
            raise NotFound(f"no room {room!r}") from None

    def preset(self, preset_id: str) -> Preset:
        try:
            return self.presets[preset_id]
        except KeyError:
            raise NotFound(f"no preset {preset_id!r}") from None

    def room_state(self, room: str) -> SessionState | None:
        self.room(room)
        live = self._live.get(room)
        return self._state(live, self.clock.now()) if live else None

    def live_events(self, room: str) -> list[Event] | None:
        """The running session's events in `room` (a copy), or None when the room is idle."""
        live = self._live.get(room)
        return list(live.events) if live else None

    def session_record(self, session_id: str) -> tuple[SessionInfo, list[Event], SessionState]:
        for live in self._live.values():
            if live.info.id == session_id:
                return live.info, list(live.events), self._state(live, self.clock.now())
        stored = self.store.session(session_id)
        if stored is None:
            raise NotFound(f"no session {session_id!r}")
        events = self.store.events(session_id)
        state = arc.replay(stored.info, events, self.clock.now(), panic_counts_toward_arc=self._panic_counts)
        return stored.info, events, state

    # --- commands ----------------------------------------------------------------------------

    def start_session(
        self,
        room: str,
        preset_id: str,
        client_label: str | None = None,
        playlist: str | None = None,
        by: str | None = None,
        intention: str | None = None,
    ) -> SessionState:
        self.room(room)
        preset = self.preset(preset_id)
        if room in self._live:
            raise Conflict(f"room {room!r} already has a session running ({self._live[room].info.id})")
        info = SessionInfo(id=uuid.uuid4().hex, room=room, preset=preset, client_label=client_label)
        now = self.clock.now()
        data = {
            "preset": preset.id,
            **({"playlist": playlist} if playlist else {}),
            **({"intention": intention} if intention else {}),
            **_by(by),
        }
        first = self.store.create_session(info, now, data)
        live = self._live_of(info, [first])
        self._live[room] = live
        return self._changed(live, now, "session_started", data)

    def dose(
        self,
        room: str,
        *,
        booster: bool = False,
        amount: float | None = None,
        unit: str | None = None,
        lot: str | None = None,
        override_reason: str | None = None,
        by: str | None = None,
    ) -> SessionState:
        """The first dose (or a booster); a dose given as devices records the first device with it."""
        live = self._require(room)
        now = self.clock.now()
        state = self._state(live, now)
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

    def advance(self, room: str, by: str | None = None) -> SessionState:
        live = self._require(room)
        state = self._state(live, self.clock.now())
        return self._command(live, EventType.PHASE_ADVANCED, {"from": state.phase, **_by(by)}, arc.check_advance)

    def undo_advance(self, room: str, by: str | None = None) -> SessionState:
        """Back to the phase the last advance left, as if it had not been left (within UNDO_ADVANCE_S)."""
        live = self._require(room)
        state = self._state(live, self.clock.now())
        return self._command(
            live, EventType.PHASE_ADVANCE_UNDONE, {"phase": state.phase, **_by(by)}, arc.check_undo_advance
        )

    def extend(self, room: str, minutes: float, by: str | None = None) -> SessionState:
        live = self._require(room)
        state = self._state(live, self.clock.now())
        return self._command(
            live, EventType.PHASE_EXTENDED, {"phase": state.phase, "minutes": minutes, **_by(by)}, arc.check_extend
        )

    def hold(self, room: str, by: str | None = None) -> SessionState:
        return self._command(self._require(room), EventType.HOLD, _by(by), arc.check_hold)

    def resume(self, room: str, by: str | None = None) -> SessionState:
        return self._command(self._require(room), EventType.RESUME, _by(by), arc.check_resume)

    def note(self, room: str, text: str, by: str | None = None) -> SessionState:
        return self._command(self._require(room), EventType.NOTE, {"text": text, **_by(by)}, arc.check_open)

    def acknowledge(
        self,
        room: str,
        cue_id: str,
        readings: Readings | None = None,
        not_taken_reason: str | None = None,
        by: str | None = None,
    ) -> SessionState:
        """A due cue, done: its readings (an event of their own), the device it stands for, then the ack."""
        live = self._require(room)
        now = self.clock.now()
        state = self._state(live, now)
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

    def record_reading(
        self, room: str, readings: Readings, kind: str | None = None, by: str | None = None
    ) -> SessionState:
        """An unscheduled reading, at any time the session is open."""
        live = self._require(room)
        now = self.clock.now()
        state = self._state(live, now)
        arc.check_reading(state, readings)
        alerts = self._record_reading(live, now, state, readings, None, kind, by)
        return self._changed_with_alerts(live, now, {"type": EventType.READING.value, **_by(by)}, alerts, by)

    def acknowledge_alert(
        self, room: str, alert_id: str, facilitator: str | None = None, by: str | None = None
    ) -> SessionState:
        live = self._require(room)
        data: dict[str, Any] = {"alert_id": alert_id, **_by(by)}
        if facilitator:
            data["facilitator"] = facilitator
        return self._command(
            live,
            EventType.ALERT_ACKNOWLEDGED,
            data,
            lambda s: arc.check_alert_ack(s, live.fold.record, alert_id, facilitator),
        )

    def sign_in(self, room: str, name: str, by: str | None = None) -> SessionState:
        live = self._require(room)
        return self._command(
            live, EventType.FACILITATOR_SIGNED_IN, {"name": name, **_by(by)}, lambda s: arc.check_sign_in(s, name)
        )

    def sign_out(self, room: str, name: str, by: str | None = None) -> SessionState:
        """A facilitator leaves; from the dose on, leaving fewer than the preset requires raises an alert."""
        live = self._require(room)
        now = self.clock.now()
        state = self._state(live, now)
        arc.check_sign_out(state, name)
        data = {"name": name, **_by(by)}
        self._append(live, now, EventType.FACILITATOR_SIGNED_OUT, data)
        alert = staffing_alert(live.info.preset, len(state.facilitators) - 1, state.dose_at)
        return self._changed_with_alerts(
            live, now, {"type": EventType.FACILITATOR_SIGNED_OUT.value, **data}, [alert] if alert else [], by
        )

    def ready_to_leave(self, room: str, by: str | None = None) -> SessionState:
        """The facilitators judge the client ready to leave (the REMS form asks when)."""
        return self._command(self._require(room), EventType.READY_TO_LEAVE, _by(by), arc.check_ready_to_leave)

    def panic(self, room: str, by: str) -> SessionState | None:
        """Freeze the room's session (if one runs) in panic; a second panic changes nothing."""
        self.room(room)
        live = self._live.get(room)
        if live is None:
            return None
        now = self.clock.now()
        if self._state(live, now).panic:
            log.warning("panic in %s while already in panic (by %s): nothing more to record", room, by)
            return self._state(live, now)
        self._append(live, now, EventType.PANIC, {"by": by})
        return self._changed(live, now, "event", {"type": EventType.PANIC.value, "by": by})

    def clear_panic(self, room: str, mode: str, by: str) -> SessionState | None:
        """End the panic. mode "hold" leaves the arc on hold until the therapist resumes it."""
        self.room(room)
        live = self._live.get(room)
        if live is None:
            return None
        now = self.clock.now()
        state = self._state(live, now)
        if state.panic:
            self._append(live, now, EventType.PANIC_CLEARED, {"mode": mode, "by": by})
            if mode == "hold" and not state.held:
                self._append(live, now, EventType.HOLD, {"reason": "after panic", "by": by})
        elif mode == "restore" and state.held:
            self._append(live, now, EventType.RESUME, {"reason": "room restored after panic", "by": by})
        return self._changed(live, now, "event", {"type": EventType.PANIC_CLEARED.value, "mode": mode})

    def record(self, room: str, type_: EventType, data: dict[str, Any]) -> None:
        """Log what the room's music did in the running session, if there is one (no arc change)."""
        live = self._live.get(room)
        if live is not None and self._state(live, self.clock.now()).ended_at is None:
            self._append(live, self.clock.now(), type_, data)

    def end(self, room: str, override_reason: str | None = None, by: str | None = None) -> SessionState:
        live = self._require(room)
        now = self.clock.now()
        state = self._state(live, now)
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
        del self._live[room]
        return self._changed(live, now, "session_ended", {})

    # --- after the session ------------------------------------------------------------------

    def mark_rems_filed(self, session_id: str, reference: str | None = None, by: str | None = None) -> Event:
        """The REMS Patient Monitoring Form of this session was filed (recorded once)."""
        info, events, _ = self.session_record(session_id)
        if not info.preset.rems_form:
            raise Conflict(f"preset {info.preset.id!r} has no REMS form to file")
        filed = [e for e in events if e.type is EventType.REMS_FILED]
        if filed:
            when = arc.iso_utc(filed[0].at)
            raise Conflict(f"the REMS form of session {session_id} was already marked filed at {when}")
        data = {**({"reference": reference} if reference else {}), **_by(by)}
        now = self.clock.now()
        for live in self._live.values():
            if live.info.id == session_id:
                event = self._append(live, now, EventType.REMS_FILED, data)
                self._changed(live, now, "event", {"type": EventType.REMS_FILED.value, **data})
                return event
        return self.store.append(session_id, now, EventType.REMS_FILED, data)

    def sessions(self, since: float) -> list[StoredSession]:
        """Every session started since `since`, oldest first."""
        return self.store.sessions_since(since)

    def rems_unfiled(self) -> list[StoredSession]:
        """Every dosed Spravato session whose REMS form is not marked filed, oldest first."""
        return self.store.rems_unfiled()

    # --- internals ---------------------------------------------------------------------------

    def _live_of(self, info: SessionInfo, events: list[Event]) -> _Live:
        fold = arc.SessionFold(info, events[0], panic_counts_toward_arc=self._panic_counts)
        for event in events[1:]:
            fold.apply(event)
        return _Live(info, events, fold)

    def _require(self, room: str) -> _Live:
        self.room(room)
        live = self._live.get(room)
        if live is None:
            raise Conflict(f"room {room!r} has no session running; start one first")
        return live

    def _command(
        self, live: _Live, type_: EventType, data: dict[str, Any], check: Callable[[SessionState], object]
    ) -> SessionState:
        now = self.clock.now()
        check(self._state(live, now))
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
        self._wake.set()
        return state

    def _append(self, live: _Live, now: float, type_: EventType, data: dict[str, Any]) -> Event:
        event = self.store.append(live.info.id, now, type_, data)
        live.events.append(event)
        live.fold.apply(event)
        return event

    def _changed(self, live: _Live, now: float, kind: NoticeKind, detail: dict[str, Any]) -> SessionState:
        state = self._announce(live, now, force=[(kind, detail)])
        self._wake.set()  # the next deadline may have moved
        return state

    def _announce(
        self, live: _Live, now: float, force: list[tuple[NoticeKind, dict[str, Any]]] | None = None
    ) -> SessionState:
        """Publish what is new since the last announcement: phase entered, cues due, the change itself."""
        state = self._state(live, now)
        room = live.info.room
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
        return state

    def _state(self, live: _Live, now: float) -> SessionState:
        return live.fold.at(now)

    def _next_deadline(self) -> float | None:
        now = self.clock.now()
        deadlines = [d for live in self._live.values() if (d := self._deadline(live, now)) is not None]
        return min(deadlines, default=None)

    def _deadline(self, live: _Live, now: float) -> float | None:
        if live.quiet_at(now):
            return live.quiet[1] if live.quiet else None
        state = self._state(live, now)
        deadlines = []
        if state.next_phase_at is not None:
            deadlines.append(state.next_phase_at)
        if not state.panic and state.next_cue is not None:
            deadlines.append(state.next_cue.due_at)
        deadline = min(deadlines, default=None)
        live.quiet = (len(live.events), deadline) if state.status in ("arrival", "running") else None
        return deadline


def _by(by: str | None) -> dict[str, str]:
    """Who gave the command (the token's name, e.g. "http:tablet-1"), for the event's data."""
    return {"by": by} if by else {}
