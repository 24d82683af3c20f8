"""Seeking back to committed offsets must not skip records of a partition with no commit.

Faust seeks back when it drops records fetched during a rebalance. aiokafka's own
`seek_to_committed` leaves an uncommitted partition where the fetch left it, after the dropped
records; the worker's transport sends it back to the start instead.
"""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from friction_detector.streams.worker.faust_internals import seek_to_committed_or_beginning
from kafka import KafkaProducer

RECORDS = 10


def _topic_with_records(bootstrap: str) -> str:
    topic = f"seek-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(RECORDS):
        producer.send(topic, value=b"%d" % i, partition=0)
    producer.flush()
    producer.close()
    return topic


async def _position_after_seek_back(
    bootstrap: str, topic: str, ours: bool, changelogs: tuple[str, ...] = ()
) -> int:
    """Read half the records without committing, seek back, and return the position."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"group-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    tp = TopicPartition(topic, 0)
    await consumer.start()
    try:
        consumer.assign([tp])
        read = 0
        while read < RECORDS // 2:
            batch = await consumer.getmany(tp, timeout_ms=5000, max_records=RECORDS // 2 - read)
            read += len(batch.get(tp, []))
        if ours:
            await seek_to_committed_or_beginning(consumer, changelogs)
        else:
            await consumer.seek_to_committed()
        return await consumer.position(tp)
    finally:
        await consumer.stop()


def test_an_uncommitted_partition_goes_back_to_its_start(kafka_bootstrap: str):
    topic = _topic_with_records(kafka_bootstrap)
    skipped = asyncio.run(_position_after_seek_back(kafka_bootstrap, topic, ours=False))
    assert skipped == RECORDS // 2  # aiokafka alone: the first half would never be read again
    assert asyncio.run(_position_after_seek_back(kafka_bootstrap, topic, ours=True)) == 0


def test_a_changelog_partition_keeps_the_position_table_recovery_gave_it(kafka_bootstrap: str):
    topic = _topic_with_records(kafka_bootstrap)
    kept = asyncio.run(
        _position_after_seek_back(kafka_bootstrap, topic, ours=True, changelogs=(topic,))
    )
    assert kept == RECORDS // 2
