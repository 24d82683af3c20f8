"""A wrong SASL password is named as such within seconds, by every command that reaches Kafka."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from friction_detector.streams.devkit.local_kafka import LocalKafka
from kafka import KafkaConsumer
from loopback import free_port

USER, PASSWORD = "alice", "alice-secret"
LIMIT_S = 10


@pytest.fixture(scope="module")
def sasl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = LocalKafka(
        tmp_path_factory.mktemp("sasl-kafka"),
        port=free_port(),
        controller_port=free_port(),
        sasl_users={USER: PASSWORD},
        sasl_port=free_port(),
    )
    broker.up(timeout=90)
    try:
        yield broker
    finally:
        broker.down()


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(b'{"event_id": "e-%d"}\n' % n for n in range(3)))
    return path


def friction(broker: LocalKafka, password: str, *args: str) -> tuple[int, str, float]:
    """Run `friction ...` against the SASL listener; exit code, standard error, seconds taken."""
    env = {
        **os.environ,
        "FRICTION_KAFKA_BROKER": f"kafka://{broker.sasl_bootstrap}",
        "FRICTION_KAFKA_SASL_MECHANISM": "PLAIN",
        "FRICTION_KAFKA_SASL_USERNAME": USER,
        "FRICTION_KAFKA_SASL_PASSWORD": password,
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "friction_detector.streams.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stderr, time.monotonic() - started


def assert_named_authentication_failure(broker: LocalKafka, code: int, err: str, took: float):
    assert code == 2, err
    assert took < LIMIT_S, err
    [line] = err.strip().splitlines()
    assert "authentication" in line
    assert broker.sasl_bootstrap in line
    assert "PLAIN" in line


def test_send_with_a_wrong_password_says_authentication_failed(sasl_kafka, events):
    code, err, took = friction(sasl_kafka, "wrong", "send", str(events))
    assert_named_authentication_failure(sasl_kafka, code, err, took)


def test_tail_with_a_wrong_password_says_authentication_failed(sasl_kafka):
    code, err, took = friction(sasl_kafka, "wrong", "tail")
    assert_named_authentication_failure(sasl_kafka, code, err, took)


def test_worker_with_a_wrong_password_says_authentication_failed(sasl_kafka, tmp_path):
    code, err, took = friction(
        sasl_kafka, "wrong", "worker", "--metrics-port", "0", "--data-dir", str(tmp_path)
    )
    assert_named_authentication_failure(sasl_kafka, code, err, took)


def test_send_with_the_right_password_sends_every_line(sasl_kafka, events):
    code, err, _ = friction(sasl_kafka, PASSWORD, "send", str(events), "--topic", "sasl-sent")
    assert code == 0, err
    consumer = KafkaConsumer(
        "sasl-sent",
        bootstrap_servers=sasl_kafka.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    try:
        values = [message.value for message in consumer]
    finally:
        consumer.close()
    # In batch messages, one per partition of the events' keys.
    sent = [e for value in values for e in orjson.loads(value)]
    assert sorted(e["event_id"] for e in sent) == [f"e-{n}" for n in range(3)]
