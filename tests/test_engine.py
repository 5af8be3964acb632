"""The engine on a manual clock: phase changes and cues fire at their moment, and survive a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from app.catalog import load_presets
from app.domain.clock import ManualClock
from app.domain.errors import Conflict
from app.domain.rooms import Room
from app.domain.session import cue_id, cue_offsets_min
from app.engine import Notice, SessionEngine
from app.store import SqliteStore
from tests.conftest import T0

PRESETS = load_presets(Path(__file__).resolve().parents[1] / "presets")
ROOMS = {"one": Room(id="one", name="Room one"), "two": Room(id="two", name="Room two")}
MIN = 60.0


class Recorder:
    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def of(self, kind: str) -> list[Notice]:
        return [n for n in self.notices if n.kind == kind]


@asynccontextmanager
async def running(db: Path | str, clock: ManualClock) -> AsyncIterator[tuple[SessionEngine, Recorder]]:
    engine = SessionEngine(SqliteStore(db), PRESETS, ROOMS, clock)
    engine.load()
    recorder = Recorder()
    engine.listen(recorder.notices.append)
    runner = asyncio.create_task(engine.run())
    await asyncio.sleep(0)
    try:
        yield engine, recorder
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        engine.store.close()


async def test_eight_hour_mdma_session_with_booster_fires_everything_on_time(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    preset = PRESETS["mdma"]
    assert preset.booster is not None
    async with running(tmp_path / "a.db", clock) as (engine, rec):
        engine.session("one").start("mdma")
        await clock.advance(20 * MIN)
        dose_at = clock.now()
        engine.session("one").dose(amount=120)
        await clock.advance(105 * MIN)
        engine.session("one").dose(booster=True, amount=60)
        await clock.advance(8 * 60 * MIN)

        # Phase changes: each at its nominal start, the boosted phase and all after it later.
        expected, t = [], dose_at
        for phase in preset.phases[1:]:
            expected.append((phase.name, t))
            extra = preset.booster.extend_min if phase.name == preset.booster.extends_phase else 0
            t += ((phase.duration_min or 0) + extra) * MIN
        fired = [(n.detail["phase"], n.at) for n in rec.of("phase")]
        assert fired[0] == ("arrival", T0)
        assert fired[1:] == expected

        # Cues: every rule's instances up to now, each fired exactly once at its due time.
        horizon = (clock.now() - dose_at) / MIN
        # A cue counted from a phase falls at that phase's actual start (the booster moved the later ones).
        anchor = {"start": T0, "dose": dose_at}
        phase_start = dict(expected)
        expected_cues = sorted(
            ((phase_start[rule.phase] if rule.phase else anchor[rule.anchor]) + off * MIN, cue_id(rule, off))
            for rule in preset.cues
            for off in cue_offsets_min(rule, horizon)
        )
        fired_cues = sorted((n.at, n.detail["id"]) for n in rec.of("cue"))
        assert fired_cues == expected_cues
        assert "booster_offer@90" in {c for _, c in fired_cues}


async def test_a_busy_room_does_not_delay_or_repeat_another_room_s_cues_and_phases(tmp_path: Path) -> None:
    # The scheduler skips rooms with nothing of their own due: room two's moments must still come
    # exactly on time, once each, however often room one wakes it.
    clock = ManualClock(T0)
    async with running(tmp_path / "a.db", clock) as (engine, rec):
        for room in ("one", "two"):
            engine.session(room).start("psilocybin")
            engine.session(room).dose(amount=25)
        alone = ManualClock(T0)
        async with running(tmp_path / "b.db", alone) as (solo, solo_rec):
            solo.session("two").start("psilocybin")
            solo.session("two").dose(amount=25)
            for _ in range(8 * 60):  # room one busy every minute (notes), for 8 hours
                await clock.advance(MIN)
                engine.session("one").note("checked")
                await alone.advance(MIN)

        def moments(recorder: Recorder) -> list[tuple[float, str, str]]:
            return [
                (n.at, n.kind, str(n.detail.get("id") or n.detail.get("phase")))
                for n in recorder.notices
                if n.room == "two" and n.kind in ("cue", "phase")
            ]

        assert moments(rec) == moments(solo_rec) and len(moments(rec)) > 10


async def test_restart_continues_where_the_clock_says_without_replaying_cues(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    db = tmp_path / "restart.db"
    async with running(db, clock) as (engine, rec):
        engine.session("one").start("psilocybin")
        engine.session("one").dose()
        await clock.advance(70 * MIN)
        before = engine.session("one").state()
        assert before is not None
        fired_before = {n.detail["id"] for n in rec.of("cue")}
        assert fired_before  # vitals at 60 min

    await clock.advance(40 * MIN)  # the service is down for 40 minutes
    async with running(db, clock) as (engine, rec):
        state = engine.session("one").state()
        assert state is not None and state.session_id == before.session_id
        assert state.time_since_dose_s == pytest.approx(110 * MIN)
        expected = PRESETS["psilocybin"]
        t = 0.0
        for phase in expected.phases[1:]:
            if t <= 110 < t + (phase.duration_min or 1e9):
                assert state.phase == phase.name
                break
            t += phase.duration_min or 0
        await clock.advance(1)
        assert rec.of("cue") == [] and rec.of("phase") == []  # nothing old announced again
        assert state.next_cue is not None
        await clock.advance_to(state.next_cue.due_at)
        assert [n.detail["id"] for n in rec.of("cue")] == [state.next_cue.id]
        with pytest.raises(Conflict):
            engine.session("one").start("lsd")  # the resumed session still owns the room


async def test_hold_stops_phase_changes_until_resume(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    async with running(tmp_path / "h.db", clock) as (engine, rec):
        engine.session("one").start("ketamine_iv")
        engine.session("one").dose()
        engine.session("one").hold()
        await clock.advance(5 * 60 * MIN)
        assert [n.detail["phase"] for n in rec.of("phase")] == ["arrival", "onset"]
        engine.session("one").resume()
        onset = PRESETS["ketamine_iv"].phases[1].duration_min or 0
        await clock.advance(onset * MIN)
        assert rec.of("phase")[-1].detail["phase"] == PRESETS["ketamine_iv"].phases[2].name
        assert rec.of("phase")[-1].at == T0 + (5 * 60 + onset) * MIN
