"""Single messages that used to stop the worker for good, or skew event time for everything after
them, are dead-lettered with their reason while the worker stays up and finds what replay finds
in the good events."""

from __future__ import annotations

import random
import time
from pathlib import Path

import orjson
import pytest
from helpers_worker import (
    FINDINGS_TIMEOUT_S,
    LATENESS_MS,
    Names,
    TopicReader,
    Worker,
    assert_same_findings,
    compact_events,
    now_ms,
    produce,
    produce_events,
    replay_findings,
    write_config,
)
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

pytestmark = pytest.mark.kafka

# Kafka's default largest message (message.max.bytes): every dead letter must fit below it.
BROKER_MAX_MESSAGE_BYTES = 1_048_588

DEEP = (
    b'{"event_id":"d","type":"click","time":1790000000500,"session_id":"s",'
    b'"attrs":{"target":"a","junk":' + b"[" * 600 + b"]" * 600 + b"}}"
)
FUTURE = orjson.dumps(
    {"event_id": "f", "type": "page_load", "time": "9999-12-31T23:59:59Z", "session_id": "s-f",
     "attrs": {"page": "/checkout", "duration_ms": 9000}}
)  # fmt: skip
POISON = {
    "too_deep": DEEP,
    "too_large": b"\xff" * 300_000,  # escaped as text, 1.5 MB
    "future_time": FUTURE,
}
QUOTES = b'"' * 700_000  # escaped as text, 1.4 MB


def test_poison_messages_are_dead_lettered_and_the_good_events_found_as_replay_finds(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "friction.toml", LATENESS_MS)
    names = Names("poison")
    worker = Worker(kafka_bootstrap, config, names, tmp_path / "worker.log").start()
    findings = TopicReader(kafka_bootstrap, names.findings)
    dead = TopicReader(kafka_bootstrap, names.dead_letters)
    try:
        worker.wait_ready()
        poison = [*POISON.values(), QUOTES]
        produce(kafka_bootstrap, names.input, poison, [b"s"] * len(poison))
        events = compact_events(random.Random(11), 300, now_ms())
        expected = replay_findings(config, events, LATENESS_MS)
        assert len(expected) > 30
        produce_events(kafka_bootstrap, names.input, events)

        findings.wait_for(set(expected), FINDINGS_TIMEOUT_S)
        deadline = time.monotonic() + FINDINGS_TIMEOUT_S
        while len(dead.values) < len(poison) and time.monotonic() < deadline:
            dead.poll()

        assert_same_findings(findings.by_id(), expected)
        letters = [orjson.loads(value) for value in dead.values]
        assert sorted(letter["reason"] for letter in letters) == sorted([*POISON, "too_large"])
        assert all(len(value) < BROKER_MAX_MESSAGE_BYTES for value in dead.values)
        cut = sorted(letter["raw_bytes"] for letter in letters if letter.get("raw_truncated"))
        assert cut == [300_000, 700_000]
        assert worker.alive()
        assert "stays uncommitted" not in worker.log.read_text()
    finally:
        findings.close()
        dead.close()
        worker.stop()


def test_a_dead_letter_the_broker_refuses_goes_again_cut_to_fit(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A dead-letter topic that takes only small messages: the worker's dead letter of a 20 KB
    bad message is refused, sent again without its payload, and the worker goes on."""
    config = write_config(tmp_path / "friction.toml", LATENESS_MS)
    names = Names("refused")
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        topic = NewTopic(names.dead_letters, 1, 1, topic_configs={"max.message.bytes": "4096"})
        admin.create_topics([topic])
    finally:
        admin.close()
    worker = Worker(kafka_bootstrap, config, names, tmp_path / "worker.log").start()
    findings = TopicReader(kafka_bootstrap, names.findings)
    dead = TopicReader(kafka_bootstrap, names.dead_letters)
    try:
        worker.wait_ready()
        bad = b"{" + b"x" * 20_000
        produce(kafka_bootstrap, names.input, [bad], [b"s"])
        events = compact_events(random.Random(12), 100, now_ms())
        expected = replay_findings(config, events, LATENESS_MS)
        produce_events(kafka_bootstrap, names.input, events)

        findings.wait_for(set(expected), FINDINGS_TIMEOUT_S)
        deadline = time.monotonic() + FINDINGS_TIMEOUT_S
        while not dead.values and time.monotonic() < deadline:
            dead.poll()

        assert_same_findings(findings.by_id(), expected)
        [letter] = [orjson.loads(value) for value in dead.values]
        assert letter["reason"] == "invalid_json"
        assert (letter["raw_truncated"], letter["raw_bytes"]) == (True, len(bad))
        assert worker.alive()
        assert "the broker refused a" in worker.log.read_text()
    finally:
        findings.close()
        dead.close()
        worker.stop()
