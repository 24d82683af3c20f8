"""What `send` and `worker` say when Kafka refuses what they give it, and what they do next."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
from friction_detector.streams.cli.main import main
from kafka import KafkaAdminClient, KafkaConsumer

LIMIT = 1_048_576


def read_topic(bootstrap: str, topic: str) -> list[bytes]:
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5000
    )
    try:
        return [message.value for message in consumer]
    finally:
        consumer.close()


def read_events(bootstrap: str, topic: str) -> list[object]:
    """The topic's events, parsed, each batch message's in its order."""
    parsed = [orjson.loads(value) for value in read_topic(bootstrap, topic)]
    return [e for doc in parsed for e in (doc if isinstance(doc, list) else [doc])]


def event(n: int) -> bytes:
    return b'{"event_id": "e-%d", "session_id": "s-1"}' % n


def test_send_reports_a_line_over_the_message_limit_and_sends_the_rest(
    kafka_bootstrap: str, tmp_path: Path, capsys
):
    lines = [event(n) for n in range(1, 21)]
    lines[16] = b'{"pad": "' + b"x" * (1_300_000 - 11) + b'"}'
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    topic = "send-oversized"

    code = main(["send", str(path), "--broker", kafka_bootstrap, "--topic", topic])

    err = capsys.readouterr().err
    assert code == 1
    assert "line 17: 1,300,000 bytes, over the 1,048,576-byte message limit; not sent\n" in err
    assert "send: 19 events" in err
    assert "skipped 1 over the message limit" in err
    assert read_events(kafka_bootstrap, topic) == [orjson.loads(v) for v in lines[:16] + lines[17:]]


def test_send_skips_a_line_under_the_limit_that_its_record_framing_takes_over(
    kafka_bootstrap: str, tmp_path: Path, capsys
):
    near = b'"' + b"y" * (LIMIT - 2) + b'"'
    path = tmp_path / "events.jsonl"
    path.write_bytes(near + b"\n" + event(1) + b"\n")

    code = main(["send", str(path), "--broker", kafka_bootstrap, "--topic", "send-framing"])

    err = capsys.readouterr().err
    assert code == 1
    assert "line 1: 1,048,576 bytes, over the 1,048,576-byte message limit once framed" in err
    assert read_events(kafka_bootstrap, "send-framing") == [orjson.loads(event(1))]


def worker(bootstrap: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "friction_detector.streams.cli.main", "worker",
               "--broker", bootstrap, "--input-topic", "failing.input", "--metrics-port", "0",
               "--data-dir", str(tmp_path), *extra]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def collide(bootstrap: str) -> None:
    """A topic whose name Kafka treats as the same as "failing.input", so creating that fails."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        existing = set(admin.list_topics())
        if "failing_input" not in existing:
            admin.create_topics({"failing_input": {"num_partitions": 1, "replication_factor": 1}})
    finally:
        admin.close()


def test_a_kafka_failure_at_worker_start_is_one_line_naming_the_broker(
    kafka_bootstrap: str, tmp_path: Path
):
    collide(kafka_bootstrap)
    done = worker(kafka_bootstrap, tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"friction worker: creating topics at {kafka_bootstrap}: InvalidTopicError: "
        "Topic 'failing.input' collides with existing topic: failing_input"
    ]


def test_the_traceback_of_a_kafka_failure_shows_at_log_level_debug(
    kafka_bootstrap: str, tmp_path: Path
):
    collide(kafka_bootstrap)
    done = worker(kafka_bootstrap, tmp_path, "--log-level", "DEBUG")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert f"friction worker: creating topics at {kafka_bootstrap}: " in done.stderr
