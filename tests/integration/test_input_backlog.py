"""The input backlog an idle tick waits for, counted against a real broker."""

from __future__ import annotations

import time
import uuid

import pytest
from friction_detector.streams.kafka.settings import KafkaSettings
from friction_detector.streams.worker.backlog import InputBacklog
from helpers_worker import create_topic
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

pytestmark = pytest.mark.kafka


def _topic_with(bootstrap: str, counts: list[int]) -> str:
    """A new topic with `counts[p]` messages on partition p."""
    topic = f"backlog-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, len(counts))
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for partition, count in enumerate(counts):
            for i in range(count):
                producer.send(topic, value=b"{}", key=str(i).encode(), partition=partition)
        producer.flush()
    finally:
        producer.close()
    return topic


def _commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        consumer.assign(list(offsets))
        consumer.commit({tp: OffsetAndMetadata(n, "", -1) for tp, n in offsets.items()})
    finally:
        consumer.close()


def _unread(backlog: InputBacklog) -> int:
    """As the worker's tick asks: a retriable error (the group's coordinator still being
    elected on a new broker) means ask again later."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return sum(backlog.unread_by_partition().values())
        except KafkaError as error:
            if not error.retriable or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_unread_input_counts_from_the_groups_commits_or_the_start(kafka_bootstrap: str) -> None:
    topic = _topic_with(kafka_bootstrap, [3, 2])
    other = _topic_with(kafka_bootstrap, [4])
    group = f"group-{uuid.uuid4().hex[:8]}"
    settings = KafkaSettings(broker=f"kafka://{kafka_bootstrap}")
    backlog = InputBacklog(settings, group, [topic, other])
    try:
        assert _unread(backlog) == 9  # nothing committed: everything from the start

        _commit(kafka_bootstrap, group, {TopicPartition(topic, 0): 2})
        assert _unread(backlog) == 1 + 2 + 4

        _commit(kafka_bootstrap, group, {TopicPartition(topic, 1): 2, TopicPartition(other, 0): 4})
        assert _unread(backlog) == 1

        _commit(kafka_bootstrap, group, {TopicPartition(topic, 0): 3})
        assert _unread(backlog) == 0
    finally:
        backlog.close()
