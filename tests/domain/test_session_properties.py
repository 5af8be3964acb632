"""Hypothesis properties of the arc: whatever the therapist does, in whatever order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.events import Event, EventType
from app.domain.session import SessionFold, SessionState, replay
from tests.domain.test_session import PRESETS, info

PRESET_IDS = sorted(PRESETS)
COMMANDS = [
    EventType.PHASE_ADVANCED,
    EventType.PHASE_EXTENDED,
    EventType.HOLD,
    EventType.RESUME,
    EventType.PANIC,
    EventType.PANIC_CLEARED,
    EventType.NOTE,
    EventType.BOOSTER_GIVEN,
]


@st.composite
def sessions(draw: st.DrawFn) -> tuple[str, list[Event], float]:
    """A preset, a plausible event log (dose first), and a moment after its last event."""
    preset_id = draw(st.sampled_from(PRESET_IDS))
    t = draw(st.floats(0, 3600))
    events = [Event(seq=0, at=0.0, type=EventType.STARTED), Event(seq=1, at=t, type=EventType.DOSE_GIVEN)]
    for _ in range(draw(st.integers(0, 12))):
        t += draw(st.floats(0, 2 * 3600))
        kind = draw(st.sampled_from(COMMANDS))
        data: dict[str, object] = {}
        if kind is EventType.PHASE_EXTENDED:
            data = {"minutes": draw(st.floats(1, 120))}
        elif kind is EventType.PANIC_CLEARED:
            data = {"mode": "restore"}
        events.append(Event(seq=len(events), at=t, type=kind, data=data))
    return preset_id, events, t + draw(st.floats(0, 12 * 3600))


def at(preset_id: str, events: list[Event], now: float) -> SessionState:
    return replay(info(preset_id), events, now)


@settings(max_examples=300, deadline=None)
@given(sessions())
def test_time_in_phase_and_time_left_are_never_negative(session: tuple[str, list[Event], float]) -> None:
    preset_id, events, now = session
    for moment in (events[-1].at, (events[-1].at + now) / 2, now):
        state = at(preset_id, events, moment)
        assert state.time_in_phase_s >= 0
        assert state.phase_remaining_s is None or state.phase_remaining_s >= 0
        starts = [p.start for p in state.phases if p.start is not None]
        assert starts == sorted(starts)


@settings(max_examples=300, deadline=None)
@given(sessions(), st.floats(1, 24 * 3600), st.sampled_from([EventType.HOLD, EventType.PANIC]))
def test_a_hold_or_a_panic_freezes_the_arc(
    session: tuple[str, list[Event], float], later_s: float, freeze: EventType
) -> None:
    preset_id, events, now = session
    frozen = [*events, Event(seq=len(events), at=now, type=freeze)]
    before, after = at(preset_id, frozen, now), at(preset_id, frozen, now + later_s)
    assert after.phase_index == before.phase_index
    assert after.time_in_phase_s == before.time_in_phase_s
    assert after.phase_remaining_s == before.phase_remaining_s
    assert before.time_since_dose_s is not None  # pharmacology does not pause:
    assert after.time_since_dose_s == pytest.approx(before.time_since_dose_s + later_s)


@settings(max_examples=300, deadline=None)
@given(sessions(), st.floats(1, 240))
def test_extending_moves_every_later_phase_by_exactly_the_extension(
    session: tuple[str, list[Event], float], minutes: float
) -> None:
    preset_id, events, now = session
    before = at(preset_id, events, now)
    if before.phase_remaining_s is None:
        return  # open-ended: nothing to extend (the engine refuses it)
    extended = [*events, Event(seq=len(events), at=now, type=EventType.PHASE_EXTENDED, data={"minutes": minutes})]
    after = at(preset_id, extended, now)
    assert after.phase_index == before.phase_index
    for old, new in zip(before.phases, after.phases, strict=True):
        if old.status == "done":
            assert (new.start, new.end) == (old.start, old.end)
        elif old.status == "current":
            assert new.start == old.start
            assert old.end is not None and new.end is not None
            assert abs(new.end - old.end - minutes * 60) < 1e-6
        else:
            for a, b in ((old.start, new.start), (old.end, new.end)):
                assert (a is None) == (b is None)
                if a is not None and b is not None:
                    assert abs(b - a - minutes * 60) < 1e-6


@settings(max_examples=300, deadline=None)
@given(sessions(), st.floats(0, 119), st.floats(0, 6 * 3600))
def test_an_advance_undone_in_time_leaves_the_arc_as_if_it_had_never_been(
    session: tuple[str, list[Event], float], after_s: float, later_s: float
) -> None:
    preset_id, events, now = session
    before = at(preset_id, events, now)
    if before.status != "running" or before.phase_index == len(before.phases) - 1:
        return  # nothing to advance from here
    undone = [
        *events,
        Event(seq=len(events), at=now, type=EventType.PHASE_ADVANCED),
        Event(seq=len(events) + 1, at=now + after_s, type=EventType.PHASE_ADVANCE_UNDONE),
    ]
    moment = now + after_s + later_s
    a, b = at(preset_id, undone, moment), at(preset_id, events, moment)
    assert (a.phase_index, a.phase_started_at) == (b.phase_index, b.phase_started_at)
    assert a.time_in_phase_s == pytest.approx(b.time_in_phase_s)
    assert [(p.name, p.start, p.end) for p in a.phases] == [(p.name, p.start, p.end) for p in b.phases]


# The clinical record's events, beside the arc's: the fold keeps both.
RECORD_EVENTS = [
    EventType.READING,
    EventType.CUE_ACKNOWLEDGED,
    EventType.ALERT,
    EventType.ALERT_ACKNOWLEDGED,
    EventType.FACILITATOR_SIGNED_IN,
    EventType.FACILITATOR_SIGNED_OUT,
    EventType.DEVICE_GIVEN,
    EventType.READY_TO_LEAVE,
    EventType.PHASE_ADVANCE_UNDONE,
    EventType.ENDED,
    EventType.REMS_FILED,
]


def _data(draw: st.DrawFn, kind: EventType, seq: int) -> dict[str, object]:
    if kind is EventType.PHASE_EXTENDED:
        return {"minutes": draw(st.floats(1, 120))}
    if kind is EventType.PANIC_CLEARED:
        return {"mode": draw(st.sampled_from(["restore", "hold"]))}
    if kind is EventType.READING:
        return {"cue_id": None, "kind": None, "values": {"heart_rate_bpm": draw(st.integers(40, 160)), "fluid_ml": 100}}
    if kind is EventType.CUE_ACKNOWLEDGED:
        return {"cue_id": draw(st.sampled_from(["vitals@30", "vitals@60", "device@5", "check@90"]))}
    if kind is EventType.ALERT:
        return {"kind": "threshold", "message": "high", "field": "heart_rate_bpm", "value": 150, "reading_seq": seq - 1}
    if kind is EventType.ALERT_ACKNOWLEDGED:
        return {"alert_id": f"a{draw(st.integers(1, max(1, seq)))}", "by": "http:tablet"}
    if kind in (EventType.FACILITATOR_SIGNED_IN, EventType.FACILITATOR_SIGNED_OUT):
        return {"name": draw(st.sampled_from(["Ana", "Ben"]))}
    if kind is EventType.DOSE_GIVEN:
        return {"amount": 25, "unit": "mg"}
    return {}


@st.composite
def logs_with_moments(draw: st.DrawFn) -> tuple[str, list[Event], list[list[float]]]:
    """A preset, any log (dose or not, ended or not), and moments to look at after each event:
    between it and the next, and some far past the next (a look ahead must not move the fold)."""
    preset_id = draw(st.sampled_from(PRESET_IDS))
    events = [Event(seq=0, at=0.0, type=EventType.STARTED, data={"preset": preset_id, "intention": "rest"})]
    t = 0.0
    for _ in range(draw(st.integers(0, 25))):
        t += draw(st.floats(0, 3 * 3600))
        kind = draw(st.sampled_from([EventType.DOSE_GIVEN, *COMMANDS, *RECORD_EVENTS]))
        events.append(Event(seq=len(events), at=t, type=kind, data=_data(draw, kind, len(events))))
    moments = []
    for i, event in enumerate(events):
        nxt = events[i + 1].at if i + 1 < len(events) else event.at + 12 * 3600
        seen = [event.at, draw(st.floats(event.at, nxt)), nxt]
        if draw(st.booleans()):
            seen.append(nxt + draw(st.floats(0, 24 * 3600)))
        moments.append(seen)
    return preset_id, events, moments


@settings(max_examples=300, deadline=None)
@given(logs_with_moments())
def test_the_fold_applied_event_by_event_equals_replay_at_every_step(
    case: tuple[str, list[Event], list[list[float]]],
) -> None:
    preset_id, events, moments = case
    fold = SessionFold(info(preset_id), events[0])
    for i, event in enumerate(events):
        if i:
            fold.apply(event)
        for moment in moments[i]:
            assert fold.at(moment) == replay(info(preset_id), events[: i + 1], moment), (i, moment)
