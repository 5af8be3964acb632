"""What an append costs on each store: a SQLite file (WAL) and PostgreSQL on loopback.

Real engines: a SQLite file in a temporary folder, and a private PostgreSQL server started here
(Debian's, as the tests start it; `fsync` on, as a clinic runs it). One session; each append is
one event of a note's size, timed with the monotonic clock, as the service makes them (one at a
time, on one connection's turn).

    .venv/bin/python -m bench.store_append [--appends 2000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from app.catalog import load_presets
from app.domain.events import EventType
from app.domain.session import SessionInfo
from app.store import EventStore
from app.stores import open_store
from tests.support import Postgres

ROOT = Path(__file__).resolve().parents[1]


def measure(store: EventStore, appends: int) -> list[float]:
    store.create_session(SessionInfo(id="bench", room="r", preset=load_presets(ROOT / "presets")["lsd"]), 0.0)
    took = []
    for i in range(appends):
        started = time.perf_counter()
        store.append("bench", float(i), EventType.NOTE, {"text": f"note {i}: the client is calm, breathing slowly"})
        took.append((time.perf_counter() - started) * 1000)
    return took


def report(name: str, took: list[float]) -> None:
    q = statistics.quantiles(took, n=100, method="inclusive")
    print(f"  {name:<28} p50 {q[49]:5.2f} ms  p95 {q[94]:5.2f} ms  p99 {q[98]:5.2f} ms  max {max(took):6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appends", type=int, default=2000)
    args = parser.parse_args()
    print(f"One append (a note, encrypted), {args.appends} in a row:")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = open_store(Path(tmp) / "bench.db")
        report("SQLite (WAL, synchronous=NORMAL)", measure(sqlite, args.appends))
        sqlite.close()
    workdir = Path(tempfile.mkdtemp(prefix="arcroom-pg-"))
    server = Postgres(workdir, fsync=True)
    server.start()
    try:
        pg = open_store(server.database("bench"))
        report("PostgreSQL, loopback", measure(pg, args.appends))
        pg.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
