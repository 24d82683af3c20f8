"""The live worker sends the findings it publishes to the webhook, signed, and exports the
delivery metrics beside its other metrics."""

from __future__ import annotations

import random
import time
import urllib.request
from pathlib import Path

import pytest
from helpers_worker import (
    FINDINGS_TIMEOUT_S,
    LATENESS_MS,
    Names,
    TopicReader,
    Worker,
    compact_events,
    now_ms,
    produce_events,
    replay_findings,
    write_config,
)
from loopback import free_port
from webhook_receiver import SECRET, Receiver

pytestmark = pytest.mark.kafka


def metric(port: int, series: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not exported")


def test_findings_published_by_the_worker_reach_the_webhook(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRICTION_WEBHOOK_SECRET", SECRET)
    names = Names("webhook")
    with Receiver() as receiver:
        config = write_config(tmp_path / "f.toml", LATENESS_MS)
        webhook = f'\n[webhook]\nurl = "{receiver.url}"\nrecord_types = ["finding"]\n'
        config.write_text(config.read_text() + webhook)
        worker = Worker(kafka_bootstrap, config, names, tmp_path / "worker.log")
        metrics_port = free_port()
        worker.args[worker.args.index("--metrics-port") + 1] = str(metrics_port)
        reader = TopicReader(kafka_bootstrap, names.findings)
        worker.start()
        try:
            worker.wait_ready()
            events = compact_events(random.Random(5), 200, now_ms())
            expected = replay_findings(config, events, LATENESS_MS)
            assert len(expected) > 20
            produce_events(kafka_bootstrap, names.input, events)
            reader.wait_for(set(expected), FINDINGS_TIMEOUT_S)

            delivered = receiver.wait_for_records(len(expected), timeout_s=30)

            on_topic = reader.by_id()
            assert {r["finding"]["finding_id"] for r in delivered} == set(on_topic)
            assert [r["finding"] for r in delivered] == [
                on_topic[r["finding"]["finding_id"]] for r in delivered
            ]
            assert all(r.problem is None for r in receiver.received)
            assert {r.doc["origin"] for r in receiver.received} == {"worker"}
            records_series = 'friction_webhook_records_total{record_type="finding"}'
            deadline = time.monotonic() + 10
            while metric(metrics_port, records_series) < len(delivered):
                assert time.monotonic() < deadline, "webhook records not counted"
                time.sleep(0.2)
            assert metric(metrics_port, records_series) == len(delivered)
            assert metric(metrics_port, 'friction_webhook_dropped_total{reason="queue_full"}') == 0
            assert worker.alive()
        finally:
            reader.close()
            worker.stop()
