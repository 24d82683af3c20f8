"""Workers that lose records around a rebalance, on purpose, still find what replay finds."""

from __future__ import annotations

import random
import time
import urllib.request
from pathlib import Path

import pytest
from friction_detector.streams.worker.recovery_watchdog import CHECK_INTERVAL_S, STALL_S
from helpers_worker import (
    FINDINGS_TIMEOUT_S,
    LATENESS_MS,
    Names,
    TopicReader,
    Worker,
    assert_replay_findings,
    compact_events,
    now_ms,
    produce_events,
    write_config,
)
from loopback import free_port
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.kafka

LOSSY = Path(__file__).with_name("lossy_recovery_worker.py")
SLOW = Path(__file__).with_name("slow_recovery_worker.py")


def test_a_recovery_that_loses_changelog_records_reads_them_again(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "friction.toml", LATENESS_MS)
    names = Names("lossy")
    log = tmp_path / "worker.log"
    first = Worker(kafka_bootstrap, config, names, log)
    lossy = Worker(kafka_bootstrap, config, names, log, launcher=(str(LOSSY),))
    metrics_port = free_port()
    lossy.args[lossy.args.index("--metrics-port") + 1] = str(metrics_port)
    reader = TopicReader(kafka_bootstrap, names.findings)
    rng = random.Random(4)
    try:
        first.start().wait_ready()
        before = compact_events(rng, 300, now_ms())
        produce_events(kafka_bootstrap, names.input, before)
        time.sleep(3.0)  # state written to the changelog; deadlines still ahead
        first.stop()

        lossy.start().wait_ready(timeout=60 + STALL_S + 2 * CHECK_INTERVAL_S)
        text = log.read_text(errors="replace")
        assert "lossy recovery: dropped" in text
        assert "reading the changelog again" in text
        assert _rereads(metrics_port) >= 1
        after = compact_events(rng, 200, now_ms())
        produce_events(kafka_bootstrap, names.input, after)

        assert_replay_findings(reader, config, before + after, LATENESS_MS, FINDINGS_TIMEOUT_S)
    finally:
        reader.close()
        first.stop()
        lossy.stop()


def test_input_read_while_a_rebalance_ends_is_all_processed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "friction.toml", LATENESS_MS)
    names = Names("resume")
    first = Worker(kafka_bootstrap, config, names, tmp_path / "first.log", launcher=(str(SLOW),))
    second = Worker(kafka_bootstrap, config, names, tmp_path / "second.log", launcher=(str(SLOW),))
    reader = TopicReader(kafka_bootstrap, names.findings)
    try:
        first.start().wait_ready()
        second.start()
        _wait_for_log(first, "Revoking previously assigned partitions", times=2)
        events = compact_events(random.Random(5), 1000, now_ms())
        produce_events(kafka_bootstrap, names.input, events)  # arrives while the group rebalances
        second.wait_ready()

        assert_replay_findings(reader, config, events, LATENESS_MS, FINDINGS_TIMEOUT_S)
    finally:
        reader.close()
        first.stop()
        second.stop()


def _wait_for_log(worker: Worker, text: str, times: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.log.read_text(errors="replace").count(text) >= times:
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged {times} times within {timeout}s:\n{worker.tail()}")


def _rereads(port: int) -> float:
    """friction_changelog_rereads_total summed over topics, from the worker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "friction_changelog_rereads_total"
    )
