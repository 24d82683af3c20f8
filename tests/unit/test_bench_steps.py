"""bench/steps runs the worker's own steps on its own objects: a change to them that the bench
no longer follows fails here rather than in the next engineer's measurement."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from friction_detector.detectors.compiled import compiled

STEPS = Path(__file__).resolve().parents[2] / "bench" / "steps.py"


def test_every_step_is_timed_on_events_that_reach_detection() -> None:
    done = subprocess.run(
        [sys.executable, str(STEPS), "--events", "3000", "--rounds", "1"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    figures = dict(re.findall(r"^\s*(\S.*?\S)\s+(\d+\.\d\d)$", done.stdout, re.MULTILINE))
    steps = ["stage 1: handle and publish", "decode alone", "route alone",
             "stage 2: take routed message", "detect (the watermark moved)",
             "records sealed", "records kept in the store", "stage 2 in all"]  # fmt: skip
    if compiled():  # engine.py writes each change as it makes it: nothing left to write
        steps.append("records written by the engine")
    for step in steps:
        assert float(figures[step]) > 0, step
    counts = re.search(r"([\d.]+) routed items, ([\d.]+) state records", done.stdout)
    assert counts is not None and float(counts[1]) > 0.5 and float(counts[2]) > 0.2
    assert "3,004 events" in done.stdout  # and the end of the input, one per partition
    assert "undeclared" not in done.stderr  # the metrics know the detectors' measurements
