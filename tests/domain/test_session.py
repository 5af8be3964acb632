"""The arc as a pure function of (events, now)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.catalog import load_presets
from app.domain.errors import Conflict, NotFound
from app.domain.events import Event, EventType
from app.domain.presets import Preset
from app.domain.readings import Readings
from app.domain.session import (
    CommandCheck,
    CueView,
    SessionFold,
    SessionInfo,
    check_ack,
    check_advance,
    check_dose,
    check_end,
    check_extend,
    check_undo_advance,
    cue_views,
    phase_starts_of,
    replay,
)

VITALS = Readings(systolic_mmhg=120, diastolic_mmhg=80, heart_rate_bpm=70, temperature_c=36.8)
PRESETS = load_presets(Path(__file__).resolve().parents[2] / "presets")
MIN = 60.0


def info(preset_id: str) -> SessionInfo:
    return SessionInfo(id="s1", room="one", preset=PRESETS[preset_id])


class Log:
    """Builds an event list the way the engine would, one event at a time."""

    def __init__(self, preset_id: str = "psilocybin") -> None:
        self.info = info(preset_id)
        self.preset: Preset = self.info.preset
        self.events = [Event(seq=0, at=0.0, type=EventType.STARTED)]

    def add(self, at_min: float, type_: EventType, **data: object) -> Log:
        self.events.append(Event(seq=len(self.events), at=at_min * MIN, type=type_, data=data))
        return self

    def at(self, minutes: float, **kw: bool):
        return replay(self.info, self.events, minutes * MIN, **kw)

    def fold(self) -> SessionFold:
        fold = SessionFold(self.info, self.events[0])
        for event in self.events[1:]:
            fold.apply(event)
        return fold


def nominal_starts(preset: Preset, dose_min: float) -> dict[str, float]:
    starts, t = {}, dose_min
    for phase in preset.phases[1:]:
        starts[phase.name] = t
        t += phase.duration_min or 0
    return starts


def test_arrival_lasts_until_the_dose() -> None:
    log = Log()
    state = log.at(500)
    assert (state.phase, state.status, state.dose_at) == ("arrival", "arrival", None)
    assert state.phase_remaining_s is None
    assert all(p.start is None for p in state.phases if p.status == "upcoming")


def test_phases_follow_the_preset_from_the_dose() -> None:
    log = Log().add(10, EventType.DOSE_GIVEN)
    starts = nominal_starts(log.preset, 10)
    for name, start in starts.items():
        assert log.at(start).phase == name, name
        if name != "onset":
            assert log.at(start - 0.01).phase != name
    state = log.at(starts["peak"] + 5)
    assert state.time_in_phase_s == pytest.approx(5 * MIN)
    assert state.time_since_dose_s == pytest.approx((starts["peak"] + 5 - 10) * MIN)
    upcoming = {p.name: p.start for p in state.phases if p.status == "upcoming"}
    assert upcoming["descent"] == pytest.approx(starts["descent"] * MIN)


def test_advance_ends_the_phase_now_and_moves_every_later_phase() -> None:
    log = Log().add(0, EventType.DOSE_GIVEN).add(12, EventType.PHASE_ADVANCED)
    state = log.at(12)
    assert state.phase == "ascent"
    onset = next(p for p in state.phases if p.name == "onset")
    assert (onset.start, onset.end) == (0.0, 12 * MIN)
    starts = nominal_starts(log.preset, 12 - log.preset.phases[1].duration_min)  # type: ignore[operator]
    peak = next(p for p in state.phases if p.name == "peak")
    assert peak.start == pytest.approx(starts["peak"] * MIN)


def test_an_advance_undone_within_two_minutes_is_as_if_the_phase_had_not_been_left() -> None:
    never = Log().add(0, EventType.DOSE_GIVEN)
    log = Log().add(0, EventType.DOSE_GIVEN).add(12, EventType.PHASE_ADVANCED)
    assert log.at(12.5).advance_undo_until == (12 + 2) * MIN
    log.add(13.5, EventType.PHASE_ADVANCE_UNDONE)
    state, reference = log.at(20), never.at(20)
    assert (state.phase, state.phase_started_at, state.time_in_phase_s) == (
        reference.phase,
        reference.phase_started_at,
        reference.time_in_phase_s,
    )
    assert [(p.name, p.status, p.start, p.end) for p in state.phases] == [
        (p.name, p.status, p.start, p.end) for p in reference.phases
    ]
    assert state.advance_undo_until is None  # once undone, nothing left to undo
    with pytest.raises(Conflict, match="nothing to undo"):
        check_undo_advance(state)


def test_an_advance_cannot_be_undone_after_two_minutes_or_after_the_arc_moved_or_froze() -> None:
    late = Log().add(0, EventType.DOSE_GIVEN).add(12, EventType.PHASE_ADVANCED)
    with pytest.raises(Conflict, match="for 2 minutes"):
        check_undo_advance(late.at(14.01))
    for then in (EventType.HOLD, EventType.PANIC):
        frozen = Log().add(0, EventType.DOSE_GIVEN).add(12, EventType.PHASE_ADVANCED).add(12.5, then)
        assert frozen.at(13).advance_undo_until is None, then
    extended = Log().add(0, EventType.DOSE_GIVEN).add(12, EventType.PHASE_ADVANCED)
    extended.add(12.5, EventType.PHASE_EXTENDED, minutes=10)
    assert extended.at(13).advance_undo_until is None
    assert Log().add(0, EventType.DOSE_GIVEN).at(5).advance_undo_until is None  # no advance: nothing to undo


def test_extend_lengthens_the_current_phase_and_shifts_the_rest() -> None:
    base = Log().add(0, EventType.DOSE_GIVEN)
    extended = Log().add(0, EventType.DOSE_GIVEN).add(5, EventType.PHASE_EXTENDED, minutes=30)
    before = {p.name: p.start for p in base.at(5).phases}
    after = {p.name: p.start for p in extended.at(5).phases}
    for name in ("ascent", "peak", "descent", "return", "closing"):
        assert after[name] - before[name] == pytest.approx(30 * MIN), name  # type: ignore[operator]
    assert extended.at(5).phases[1].extended_s == 30 * MIN


def test_hold_freezes_the_arc_but_not_the_time_since_dose() -> None:
    log = Log().add(0, EventType.DOSE_GIVEN).add(10, EventType.HOLD)
    held = log.at(100)
    assert (held.phase, held.status, held.held) == ("onset", "held", True)
    assert held.time_in_phase_s == pytest.approx(10 * MIN)
    assert held.time_since_dose_s == pytest.approx(100 * MIN)
    log.add(100, EventType.RESUME)
    onset_min = log.preset.phases[1].duration_min or 0
    assert log.at(100 + onset_min - 10 - 0.01).phase == "onset"
    assert log.at(100 + onset_min - 10).phase == "ascent"


def test_panic_freezes_and_by_default_its_time_does_not_count() -> None:
    log = Log().add(0, EventType.DOSE_GIVEN).add(10, EventType.PANIC)
    assert log.at(90).status == "panic"
    assert log.at(90).next_phase_at is None
    log.add(90, EventType.PANIC_CLEARED)
    assert log.at(90).time_in_phase_s == pytest.approx(10 * MIN)
    counted = log.at(90, panic_counts_toward_arc=True)
    assert counted.phase != "onset"  # 90 min since dose: onset is long over when panic time counts


def test_booster_lengthens_the_named_phase() -> None:
    log = Log("mdma").add(0, EventType.DOSE_GIVEN)
    booster = log.preset.booster
    assert booster is not None
    plain = {p.name: p.start for p in log.at(100).phases}
    log.add(100, EventType.BOOSTER_GIVEN)
    boosted = log.at(100)
    after = {p.name: p.start for p in boosted.phases}
    target = log.preset.phase_index(booster.extends_phase)
    for phase in log.preset.phases[target + 1 :]:
        assert after[phase.name] - plain[phase.name] == pytest.approx(booster.extend_min * MIN)  # type: ignore[operator]
    assert boosted.boosters_at == [100 * MIN]


def test_repeating_cues_fall_on_schedule_and_acknowledged_ones_are_not_due() -> None:
    log = Log("mdma").add(0, EventType.DOSE_GIVEN)
    state = log.at(61)
    due_ids = [c.id for c in state.due_cues]
    assert "vitals@30" in due_ids and "vitals@60" in due_ids
    assert state.next_cue is not None and state.next_cue.due_at == 90 * MIN
    log.add(62, EventType.CUE_ACKNOWLEDGED, cue_id="vitals@30")
    assert "vitals@30" not in [c.id for c in log.at(63).due_cues]


def test_ended_session_is_frozen_in_time() -> None:
    log = Log().add(0, EventType.DOSE_GIVEN).add(30, EventType.ENDED)
    state = log.at(900)
    assert state.status == "ended" and state.ended_at == 30 * MIN
    assert state.time_since_dose_s == 30 * MIN
    assert all(p.status == "done" for p in state.phases)


def test_checks_reject_conflicting_actions() -> None:
    log = Log()
    with pytest.raises(Conflict, match="dose to leave arrival"):
        check_advance(log.at(1))
    with pytest.raises(Conflict, match="open-ended"):
        check_extend(log.at(1))
    with pytest.raises(Conflict, match="first dose before a booster"):
        check_dose(log.at(1), log.preset, booster=True)
    log.add(2, EventType.DOSE_GIVEN)
    with pytest.raises(Conflict, match="already recorded"):
        check_dose(log.at(3), log.preset, booster=False)
    with pytest.raises(Conflict, match="has no booster"):
        check_dose(log.at(3), log.preset, booster=True)
    with pytest.raises(Conflict, match="minimum observation"):
        check_end(log.at(3), None)
    check_end(log.at(3), "client asked to stop; transferred to ward")
    # No amount recorded: Oregon's rule cannot be applied, so its longest minimum (6 h) holds.
    assert log.at(3).min_observation_until == (2 + 360) * MIN
    check_end(log.at(2 + 360), None)


def test_cue_acknowledgement_checks() -> None:
    log = Log("mdma").add(0, EventType.DOSE_GIVEN)
    with pytest.raises(NotFound):
        check_ack(log.at(31), log.fold(), "vitals@31")
    check_ack(log.at(31), log.fold(), "vitals@30", VITALS)
    log.add(31, EventType.CUE_ACKNOWLEDGED, cue_id="vitals@30")
    with pytest.raises(Conflict, match="already acknowledged"):
        check_ack(log.at(32), log.fold(), "vitals@30")


def test_the_state_says_which_commands_it_would_accept_and_why_not() -> None:
    log = Log("mdma")
    arrival = log.at(1).commands
    assert arrival["dose"].allowed and not arrival["dose"].needs_override
    assert arrival["advance"] == CommandCheck(allowed=False, reason="record the dose to leave arrival")
    assert arrival["booster"] == CommandCheck(allowed=False, reason="record the first dose before a booster")
    assert arrival["resume"].reason == "the session is not on hold"

    log.add(10, EventType.DOSE_GIVEN, amount=120, unit="mg")
    dosed = log.at(20).commands
    assert not dosed["dose"].allowed and dosed["advance"].allowed and dosed["hold"].allowed
    # Before its window a booster is accepted only with a reason, which the check names.
    assert dosed["booster"].allowed and dosed["booster"].needs_override
    assert dosed["booster"].reason is not None and "booster window is" in dosed["booster"].reason
    assert dosed["end"].needs_override and "minimum observation" in str(dosed["end"].reason)
    assert log.at(10 + 100).commands["booster"] == CommandCheck(allowed=True)

    log.add(30, EventType.HOLD)
    held = log.at(31).commands
    assert held["hold"] == CommandCheck(allowed=False, reason="the session is already on hold")
    assert held["resume"].allowed

    log.add(32, EventType.ENDED)
    ended = log.at(33).commands
    assert all(not c.allowed and c.reason == "session s1 has ended" for c in ended.values()), ended


def test_what_the_state_refuses_is_what_the_command_refuses() -> None:
    log = Log("psilocybin").add(5, EventType.DOSE_GIVEN)
    last = len(log.preset.phases) - 1
    for _ in range(last - 1):
        log.add(6, EventType.PHASE_ADVANCED)
    state = log.at(7)
    assert state.phase_index == last
    with pytest.raises(Conflict) as refused:
        check_advance(state)
    assert state.commands["advance"] == CommandCheck(allowed=False, reason=refused.value.message)


def test_a_check_in_counted_from_a_phase_moves_with_the_phase() -> None:
    log = Log("psilocybin").add(10, EventType.DOSE_GIVEN)
    peak = nominal_starts(log.preset, 10)["peak"]
    planned = log.at(11).phases
    assert {c.id: c.due_at for c in cue_views_at(log, 11)}["check_in_peak@0"] == pytest.approx(peak * MIN)
    assert [p.start for p in planned if p.name == "peak"] == [pytest.approx(peak * MIN)]

    # Extended: later by the extension. Advanced early: due at once, not at the old time.
    log.add(20, EventType.PHASE_EXTENDED, minutes=15)
    assert {c.id: c.due_at for c in cue_views_at(log, 21)}["check_in_peak@0"] == pytest.approx((peak + 15) * MIN)
    log.add(30, EventType.PHASE_ADVANCED).add(31, EventType.PHASE_ADVANCED)
    state = log.at(31)
    assert state.phase == "peak"
    assert [(c.id, c.due_at) for c in state.due_cues if c.rule_id == "check_in_peak"] == [("check_in_peak@0", 31 * MIN)]
    # The return's check-in follows the moved peak: planned at the peak's new end.
    ret = next(p for p in state.phases if p.name == "return")
    assert {c.id: c.due_at for c in cue_views_at(log, 31)}["check_in_return@0"] == ret.start

    # An advance undone takes it back to the peak's planned start.
    log.add(32, EventType.PHASE_ADVANCE_UNDONE)
    assert [c.id for c in log.at(32).due_cues if c.rule_id == "check_in_peak"] == []


def cue_views_at(log: Log, minutes: float) -> list[CueView]:
    """Every cue of the log's session from the state at `minutes` on, as the state computes them."""
    state = log.at(minutes)
    return cue_views(
        log.preset,
        0.0,
        state.dose_at,
        None,
        {},
        [],
        until=minutes * MIN + 24 * 3600,
        devices_given=[],
        phase_starts=phase_starts_of(state.phases),
    )


def test_a_cue_counts_from_a_phase_the_preset_has_and_from_one_moment_only() -> None:
    data = PRESETS["psilocybin"].model_dump()
    data["cues"][3]["phase"] = "plateau"
    with pytest.raises(
        ValueError, match=r"cues count from a phase this preset does not have \(check_in_peak: plateau\)"
    ):
        Preset.model_validate(data)
    data["cues"][3].update(phase="peak", anchor="start")
    with pytest.raises(ValueError, match="give anchor or phase, not both"):
        Preset.model_validate(data)
