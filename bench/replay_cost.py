"""What a session's state costs, by the log's length: replaying the whole log, against the fold.

The engine applies each event once to the session's fold (app/domain/session.py `SessionFold`) and
projects the fold to `now` for every view and scheduler wake; `replay` (the whole log, the
reference) is what every call cost before. An LSD session, dosed, then N panics each cleared
(panic, panic_cleared, audio_resumed):

    .venv/bin/python -m bench.replay_cost [--calls 200]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from app.catalog import load_presets
from app.domain.events import Event, EventType
from app.domain.session import SessionFold, SessionInfo, replay

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000.0
PANICS = (0, 10, 50, 300)


def session_events(panics: int) -> list[Event]:
    events = [
        Event(seq=0, at=T0, type=EventType.STARTED, data={"preset": "lsd"}),
        Event(seq=1, at=T0 + 60, type=EventType.DOSE_GIVEN, data={}),
    ]
    t = T0 + 120
    for _ in range(panics):
        for type_, data, after_s in (
            (EventType.PANIC, {"by": "bench"}, 1.0),
            (EventType.PANIC_CLEARED, {"mode": "restore", "by": "bench"}, 0.1),
            (EventType.AUDIO_RESUMED, {"reason": "panic cleared"}, 5.0),
        ):
            events.append(Event(seq=len(events), at=t, type=type_, data=data))
            t += after_s
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    info = SessionInfo(id="bench", room="r", preset=load_presets(ROOT / "presets")["lsd"])
    print(f"replay() of an LSD session, mean of {args.calls} calls:")
    for panics in PANICS:
        events = session_events(panics)
        now = events[-1].at + 10
        started = time.perf_counter()
        for _ in range(args.calls):
            replay(info, events, now)
        took_ms = (time.perf_counter() - started) / args.calls * 1000
        fold = SessionFold(info, events[0])
        started = time.perf_counter()
        for event in events[1:]:
            fold.apply(event)
        apply_us = (time.perf_counter() - started) / max(1, len(events) - 1) * 1e6
        started = time.perf_counter()
        for i in range(args.calls):
            fold.at(now + i)  # a new moment each call: the projection's cost, not its cache
        project_ms = (time.perf_counter() - started) / args.calls * 1000
        print(
            f"  {len(events):5d} events ({panics:3d} panics): replay {took_ms:6.3f} ms; "
            f"fold: apply {apply_us:5.1f} us/event, state at now {project_ms:6.3f} ms"
        )


if __name__ == "__main__":
    main()
