"""A state changelog whose topic takes smaller messages than the worker's changelog batches:
the worker sends its records again in smaller batches, loses none and keeps running; a key
whose state alone outgrows the limit is dropped and dead-lettered, and the worker goes on."""

from __future__ import annotations

import random
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import orjson
import pytest
from friction_detector.streams.worker.app import STATE_TABLE
from helpers_worker import (
    FINDINGS_TIMEOUT_S,
    LATENESS_MS,
    Names,
    TopicReader,
    Worker,
    assert_replay_findings,
    assert_same_findings,
    compact_events,
    now_ms,
    produce_events,
    replay_findings,
    write_config,
)
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from loopback import free_port

pytestmark = pytest.mark.kafka

# Far below the 512 KiB the worker packs at first, above any one state record of
# `compact_events`' scenarios; the bot session's outgrows it.
MAX_MESSAGE_BYTES = 8 * 1024
BOT_SESSION = "bot-session"
BOT_EVENTS = 600  # fast checkout loads: their ids and waiting events, some 100 KB of state
STATE_TOO_LARGE = 'friction_bad_input_total{reason="state_too_large"}'


def _limit_message_size(bootstrap: str, topic: str, limit: int) -> None:
    """Set the topic's max.message.bytes, as an operator would while the worker runs."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic)
        configs = {"max.message.bytes": str(limit)}
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _topic_config(admin, resource) != str(limit):
            time.sleep(0.5)
        time.sleep(2.0)  # the partition leader applies a topic's config change asynchronously
    finally:
        admin.close()


def _topic_config(admin: KafkaAdminClient, resource: ConfigResource) -> object:
    """The topic's max.message.bytes as the broker describes it."""
    described = admin.describe_configs([resource])
    configs = next(iter(next(iter(described.values())).values()))
    entry = configs.get("max.message.bytes")
    return entry.get("value") if isinstance(entry, dict) else entry


def _changelog_keys(bootstrap: str, topic: str) -> set[str]:
    """Every key on `topic`, from the beginning to its end as of now (the worker goes on
    writing state as its clock ticks)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        keys: set[str] = set()
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, "changelog not read to its end within 60 s"
            for records in consumer.poll(timeout_ms=500).values():
                keys.update(orjson.loads(record.key) for record in records)
        return keys
    finally:
        consumer.close()


def _tracked_ids(events: list[dict]) -> set[str]:
    """The id each contract scenario's state is kept under: a checkout's or a form's session,
    a reset's request, a chat's conversation."""
    ids = set()
    for event in events:
        attrs = event["attrs"]
        if event["type"] in ("page_load", "form_submit"):
            ids.add(event["session_id"])
        elif event["type"] == "password_reset_requested":
            ids.add(attrs["request_id"])
        elif event["type"] == "chat_started":
            ids.add(attrs["conversation_id"])
    return ids


class _Running(NamedTuple):
    worker: Worker
    config: Path
    names: Names
    changelog: str  # the state table's


@contextmanager
def _small_changelog_worker(
    bootstrap: str, tmp_path: Path, label: str, metrics_port: int = 0
) -> Iterator[_Running]:
    """A ready worker whose state changelog takes messages of at most `MAX_MESSAGE_BYTES`,
    lowered as an operator would while it runs; stopped afterwards."""
    config = write_config(tmp_path / "friction.toml", LATENESS_MS)
    names = Names(label)
    changelog = f"{names.app_id}-{STATE_TABLE}-changelog"
    worker = Worker(bootstrap, config, names, tmp_path / "worker.log")
    worker.args[worker.args.index("--metrics-port") + 1] = str(metrics_port)
    worker.start()
    try:
        worker.wait_ready()
        _limit_message_size(bootstrap, changelog, MAX_MESSAGE_BYTES)
        yield _Running(worker, config, names, changelog)
    finally:
        worker.stop()


def test_a_changelog_refusing_the_batch_size_gets_every_record_and_the_worker_keeps_going(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with _small_changelog_worker(kafka_bootstrap, tmp_path, "clsize") as running:
        worker, config, names, changelog = running
        reader = TopicReader(kafka_bootstrap, names.findings)
        try:
            events = compact_events(random.Random(7), 800, now_ms())
            produce_events(kafka_bootstrap, names.input, events)

            assert_replay_findings(reader, config, events, LATENESS_MS, FINDINGS_TIMEOUT_S)

            text = worker.log.read_text(errors="replace")
            assert f"changelog {changelog} refused a record batch as too large" in text
            assert worker.alive()
            assert text.count("Worker ready") == 1  # never restarted
            keys = _changelog_keys(kafka_bootstrap, changelog)
            missing = {i for i in _tracked_ids(events) if not any(i in key for key in keys)}
            assert missing == set()
        finally:
            reader.close()


def _bot_events(end_ms: int) -> list[dict]:
    """One session loading checkout pages fast and often: no finding, a large state record."""
    return [
        {"event_id": f"bot-{n}", "type": "page_load", "time": end_ms - 5000 + n * 5,
         "user_id": None, "session_id": BOT_SESSION,
         "attrs": {"page": "/checkout/cart", "duration_ms": 300}}
        for n in range(BOT_EVENTS)
    ]  # fmt: skip


def _scraped(port: int, series: str) -> float:
    """A series' value on the worker's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(series)]
    assert len(values) == 1, f"{series}: {values}"
    return float(values[0])


def _but_bot(findings: dict[str, dict]) -> dict[str, dict]:
    return {i: f for i, f in findings.items() if f.get("session_id") != BOT_SESSION}


def _state_letters(reader: TopicReader) -> list[dict]:
    """The dead letters of dropped states read so far."""
    return [r for r in map(orjson.loads, reader.values) if r["reason"] == "state_too_large"]


def test_a_key_whose_state_outgrows_the_changelog_is_dropped_and_dead_lettered_not_crashing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    metrics_port = free_port()
    with _small_changelog_worker(kafka_bootstrap, tmp_path, "clstate", metrics_port) as running:
        worker, config, names, changelog = running
        findings = TopicReader(kafka_bootstrap, names.findings)
        letters = TopicReader(kafka_bootstrap, names.dead_letters)
        try:
            end = now_ms()
            events = compact_events(random.Random(11), 400, end) + _bot_events(end)
            events.sort(key=lambda e: e["time"])
            produce_events(kafka_bootstrap, names.input, events)

            expected = _but_bot(replay_findings(config, events, LATENESS_MS))
            findings.wait_for(set(expected), FINDINGS_TIMEOUT_S)
            assert_same_findings(_but_bot(findings.by_id()), expected)

            deadline = time.monotonic() + 30
            while True:  # each dead letter is counted as it is made, before it is sent
                dropped = _state_letters(letters)
                if dropped and _scraped(metrics_port, STATE_TOO_LARGE) == len(dropped):
                    break
                assert time.monotonic() < deadline, (len(dropped), worker.tail())
                letters.poll()
            for letter in dropped:
                assert letter["source"] == changelog
                detail = f"detector slow_checkout key {BOT_SESSION}: state record of "
                assert letter["detail"].startswith(detail)
                limit = f"(max.message.bytes {MAX_MESSAGE_BYTES} bytes)"  # as the broker has it
                assert limit in letter["detail"]
                state = orjson.loads(letter["raw"])  # the dropped state itself: the bot's events
                ids = set(state["d"]) | {item[0] for item in state["p"]}
                assert ids and all(i.startswith("bot-") for i in ids)
            text = worker.log.read_text(errors="replace")
            warning = f"state of detector slow_checkout key {BOT_SESSION}: changelog {changelog}"
            assert warning in text
            assert worker.alive()
            assert text.count("Worker ready") == 1  # never restarted
        finally:
            findings.close()
            letters.close()
