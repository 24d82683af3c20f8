"""Batch messages (a JSON array of events per message) through a real broker: the worker finds
what replay finds in the same events, and a bad element is dead-lettered with its place in its
batch while the elements around it are found."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import orjson
import pytest
from friction_detector.streams.event_batches import encode_batch
from friction_detector.streams.kafka.batch_producer import EventBatcher
from helpers_worker import (
    FINDINGS_TIMEOUT_S,
    LATENESS_MS,
    Names,
    TopicReader,
    Worker,
    assert_same_findings,
    compact_events,
    now_ms,
    replay_findings,
    write_config,
)
from kafka import KafkaProducer

pytestmark = pytest.mark.kafka


def test_batch_messages_give_replays_findings_and_a_bad_element_is_dead_lettered(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "friction.toml", LATENESS_MS)
    names = Names("batches")
    worker = Worker(kafka_bootstrap, config, names, tmp_path / "worker.log").start()
    findings = TopicReader(kafka_bootstrap, names.findings)
    dead = TopicReader(kafka_bootstrap, names.dead_letters)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    try:
        worker.wait_ready()
        events = compact_events(random.Random(5), 300, now_ms())
        expected = replay_findings(config, events, LATENESS_MS)
        assert len(expected) > 30
        slow = next(
            e for e in events if e["type"] == "page_load" and e["attrs"]["duration_ms"] > 4000
        )
        bad = {**slow, "event_id": "bad-1", "attrs": {"page": "/checkout/1"}}  # no duration_ms
        batcher = EventBatcher(producer, names.input, max_events=50, max_age_s=60)
        for event in events:
            if event is not slow:
                batcher.add(orjson.dumps(event))
        batcher.flush()
        assert batcher.sent_messages < len(events) // 10  # most events travelled in batches
        # A bad element between the slow load and a good event, in one batch of its own.
        around = [slow, bad, events[0]]
        value = encode_batch([orjson.dumps(e) for e in around])
        producer.send(names.input, key=slow["session_id"].encode(), value=value)
        producer.flush()

        findings.wait_for(set(expected), FINDINGS_TIMEOUT_S)
        deadline = time.monotonic() + FINDINGS_TIMEOUT_S
        while not dead.values and time.monotonic() < deadline:
            dead.poll()

        assert_same_findings(findings.by_id(), expected)
        [letter] = [orjson.loads(value) for value in dead.values]
        assert letter["reason"] == "missing_field"
        assert orjson.loads(letter["raw"])["event_id"] == "bad-1"
        assert re.fullmatch(r"\d+:\d+\[1\]", letter["position"]), letter["position"]
        assert any(f["session_id"] == slow["session_id"] for f in expected.values())
        assert worker.alive()
    finally:
        producer.close()
        findings.close()
        dead.close()
        worker.stop()
