"""Stage 1's reader against a real broker: an upgraded worker goes on where its app's group
committed the input, not from the start."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from friction_detector.streams.kafka.settings import input_group
from helpers_worker import Names, Worker, create_topic, now_ms, write_config
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

pytestmark = pytest.mark.kafka

PARTITIONS = 4  # the worker's default `--partitions`


def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


def _messages(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(tps).values()) if tps else 0
    finally:
        consumer.close()


def test_an_upgraded_worker_reads_its_input_from_where_the_apps_group_committed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Before the input had a group of its own, the app's group committed it: a worker that
    started from the input's start would route all of it again (here: dead-letter it)."""
    names = Names("upgrade")
    create_topic(kafka_bootstrap, names.input, PARTITIONS)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    read_before = b"not an event: read by the worker before its upgrade"
    for partition in range(PARTITIONS):
        for _ in range(2):
            producer.send(names.input, value=read_before, key=b"k", partition=partition)
    producer.flush()
    committer = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=names.app_id, enable_auto_commit=False
    )
    tps = [TopicPartition(names.input, p) for p in range(PARTITIONS)]
    committer.assign(tps)
    committer.commit({tp: OffsetAndMetadata(2, "", -1) for tp in tps})
    committer.close()
    start = now_ms()
    for partition in range(PARTITIONS):
        event = {"event_id": f"e-{partition}", "type": "page_load", "time": start,
                 "user_id": None, "session_id": f"s-{partition}",
                 "attrs": {"page": "/home", "duration_ms": 120}}  # fmt: skip
        producer.send(names.input, value=orjson.dumps(event), key=b"k", partition=partition)
    producer.flush()
    producer.close()

    worker = Worker(
        kafka_bootstrap, write_config(tmp_path / "c.toml", 0), names, tmp_path / "w.log"
    )
    try:
        worker.start().wait_ready()
        deadline = time.monotonic() + 60
        group = input_group(names.app_id)
        while _committed(kafka_bootstrap, group, names.input) != dict.fromkeys(range(4), 3):
            assert time.monotonic() < deadline, worker.tail()
            assert worker.alive(), worker.tail()
            time.sleep(0.5)
        assert _messages(kafka_bootstrap, names.dead_letters) == 0, worker.tail()
        assert worker.log.read_text().count(f"where group {names.app_id} committed") == 4
    finally:
        worker.stop()
