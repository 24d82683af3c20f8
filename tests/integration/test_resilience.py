"""The live worker finds exactly what replay finds while workers are killed and the broker
restarts: bench/resilience.py in a shorter form, on a broker of the test's own."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from friction_detector.streams.devkit.local_kafka import LocalKafka

pytestmark = pytest.mark.kafka

BENCH = Path(__file__).resolve().parents[2] / "bench" / "resilience.py"


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_resilience", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_killed_workers_and_a_restarted_broker_lose_and_add_no_findings(
    own_kafka: LocalKafka, tmp_path: Path
) -> None:
    bench = _load_bench()

    figures = bench.run(
        own_kafka, tmp_path, n=3000, rate=50, kills=10, broker_restarts=1, seed=11, say=print
    )

    print(figures.table())
    assert figures.kills == 10 and figures.broker_restarts == 1
    assert figures.in_replay > 100
    lost = [bench.describe(f) for f in figures.lost]
    extra = [bench.describe(f) for f in figures.extra]
    assert (lost, extra) == ([], [])
