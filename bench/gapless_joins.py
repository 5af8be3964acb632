"""Gapless joins as heard: real libVLC into a PulseAudio null sink, four movements joined
gaplessly, the recording searched for each movement's pitch (tests/audio/test_pulse_music.py,
marker `timing`). Prints each run's joins (+ is a gap, - an overlap) and whether it held to
the test's bounds (median join under 150 ms, each movement within 150 ms of its length).

    .venv/bin/python -m bench.gapless_joins [--runs 5]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/audio/test_pulse_music.py::test_gapless_joins_have_no_gap_and_no_overlap"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    held = 0
    for run in range(1, args.runs + 1):
        out = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", "-m", "timing", "-p", "no:cacheprovider", TEST],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        joins = re.search(r"gapless joins: (.*)", out.stdout)
        ok = out.returncode == 0
        held += ok
        heard = joins.group(1) if joins else "(none heard)"
        print(f"run {run}: joins {heard}; {'held' if ok else 'FAILED its bounds'}")
    print(f"{held} of {args.runs} runs within the bounds")


if __name__ == "__main__":
    main()
