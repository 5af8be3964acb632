"""Make docs/report-page-1.png: the first page of a demo esketamine session's PDF report.

    .venv/bin/python -m docs.report_sample

Runs the session engine on a manual clock (every reading the REMS form asks for, at the times the
label gives), renders the report with app/report_pdf.py, and turns its first page into a PNG with
Poppler's pdftoppm (Debian's poppler-utils).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from pathlib import Path

from app.catalog import load_presets
from app.domain.clock import ManualClock
from app.domain.readings import Readings
from app.domain.report import build_report
from app.domain.rooms import Room
from app.engine import SessionEngine
from app.report_pdf import report_pdf
from app.store import EventStore

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "report-page-1.png"
T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC, as in the tests
MIN = 60.0
BY = "http:tablet-room-1"


async def demo(engine: SessionEngine, clock: ManualClock) -> str:
    room = "one"
    state = engine.session(room).start("esketamine", "P-017", by=BY)
    engine.session(room).sign_in("Dr. A. Okafor", by=BY)
    engine.acknowledge(
        room, "bp_pre_dose@0", Readings(systolic_mmhg=132, diastolic_mmhg=84, heart_rate_bpm=72, spo2_pct=98), by=BY
    )
    await clock.advance(4 * MIN)
    engine.session(room).dose(amount=84, lot="LOT-25117", by=BY)
    first = clock.now()
    for n in (2, 3):
        await clock.advance_to(first + (n - 1) * 5 * MIN + 20)
        engine.session(room).acknowledge(f"device@{(n - 1) * 5}", by=BY)
    for at, spo2, dissociated in ((20, 97, True), (40, 96, True), (60, 97, True), (80, 98, False), (100, 98, False)):
        await clock.advance_to(first + at * MIN + 30)
        engine.acknowledge(
            room,
            f"monitoring@{at}",
            Readings(sedation=False, dissociation=dissociated, respiratory_depression=False, spo2_pct=spo2),
            by=BY,
        )
        if at == 40:
            engine.acknowledge(
                room, "bp_peak@40", Readings(systolic_mmhg=146, diastolic_mmhg=92, note="no headache"), by=BY
            )
        if at == 60:
            engine.session(room).acknowledge(
                "check_in_descent@60", Readings(note="oriented, talking, a little tired"), by=BY
            )
        if at == 100:
            engine.session(room).ready_to_leave(by=BY)
    await clock.advance_to(first + 120 * MIN + 40)
    engine.acknowledge(
        room,
        "monitoring@120",
        Readings(sedation=False, dissociation=False, respiratory_depression=False, spo2_pct=98),
        by=BY,
    )
    engine.session(room).acknowledge("bp_discharge@120", Readings(systolic_mmhg=128, diastolic_mmhg=80), by=BY)
    await clock.advance(4 * MIN)
    engine.session(room).end(by=BY)
    return state.session_id


async def report(db: Path) -> bytes:
    clock = ManualClock(T0)
    store = EventStore(db)
    try:
        engine = SessionEngine(store, load_presets(ROOT / "presets"), {"one": Room(id="one", name="Room one")}, clock)
        session_id = await demo(engine, clock)
        info, events, state = engine.session_record(session_id)
        return report_pdf(build_report(info, events, clock.now(), state), state)
    finally:
        store.close()


def main() -> None:
    if shutil.which("pdftoppm") is None:
        raise SystemExit("pdftoppm not found: apt-get install poppler-utils")
    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / "report.pdf"
        pdf.write_bytes(asyncio.run(report(Path(tmp) / "demo.db")))
        stem = Path(tmp) / "page"
        subprocess.run(
            ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(stem)], check=True
        )
        shutil.copyfile(stem.with_suffix(".png"), OUT)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
