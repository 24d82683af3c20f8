"""Stage 1's reader against a real broker: a member joining its input group while the reader
holds a batch gets its partitions at once, and the reader goes on reading.

The reader's revoke waits for the batch in hand, and once the group begins to rebalance
aiokafka's `getmany` waits for the next assignment: a batch that went on asking for more
records there would never finish, and the group would wait for it until its rebalance timeout.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.input_reader import InputReader
from helpers_worker import Names, create_topic
from kafka import KafkaProducer

pytestmark = pytest.mark.kafka

PARTITIONS = 2
HOLD_MS = 100  # the longest hold: the reader spends nearly all its time holding a batch
JOIN_TIMEOUT_S = 30.0  # far below the group's rebalance timeout (aiokafka's default: 300 s)


class _CountingStage:
    """The reader's routing stage, reduced to counting what it is handed."""

    def __init__(self) -> None:
        self.handled = 0

    def handle(self, records: list) -> None:
        self.handled += len(records)

    async def publish(self, send: Any) -> None:
        return None


def _produce_until(bootstrap: str, topic: str, stop: threading.Event) -> None:
    """A steady input: a record every 2 ms, on every partition in turn."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    try:
        sent = 0
        while not stop.is_set():
            producer.send(topic, value=b"{}", partition=sent % PARTITIONS)
            sent += 1
            time.sleep(0.002)
    finally:
        producer.close()


async def _until(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f}s: {what}")
        await asyncio.sleep(0.05)


def test_a_member_joining_while_a_batch_is_held_is_assigned_at_once(
    kafka_bootstrap: str,
) -> None:
    names = Names("reader-join")
    create_topic(kafka_bootstrap, names.input, PARTITIONS)
    settings = WorkerSettings(
        app_id=names.app_id,
        broker=f"kafka://{kafka_bootstrap}",
        input_topics=[names.input],
        batch_hold_ms=HOLD_MS,
    )
    stage = _CountingStage()
    stop_producing = threading.Event()
    producing = threading.Thread(
        target=_produce_until, args=(kafka_bootstrap, names.input, stop_producing)
    )

    async def failed(error: BaseException) -> None:
        raise AssertionError(error)

    async def scenario() -> None:
        routing: Any = stage
        reader = InputReader(settings, routing, FrictionMetrics(set()), failed, send=lambda: None)
        reading = asyncio.create_task(reader.run())
        await _until(lambda: stage.handled > 200, JOIN_TIMEOUT_S, "the reader routes input")
        joiner = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap,
            group_id=settings.input_group,
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )
        joiner.subscribe([names.input])
        await joiner.start()
        started = time.monotonic()
        try:
            while not joiner.assignment():
                if time.monotonic() - started > JOIN_TIMEOUT_S:
                    raise AssertionError(
                        f"the joining member got no partition within {JOIN_TIMEOUT_S:.0f}s"
                    )
                await joiner.getmany(timeout_ms=200)
            handled = stage.handled
            await _until(
                lambda: stage.handled > handled + 50 and bool(reader.assignment()),
                JOIN_TIMEOUT_S,
                "the reader goes on reading its share after the rebalance",
            )
            assert len(reader.assignment()) + len(joiner.assignment()) == PARTITIONS
        finally:
            await joiner.stop()
            await asyncio.wait_for(reader.stop(), JOIN_TIMEOUT_S)
            await reading

    producing.start()
    try:
        asyncio.run(scenario())
    finally:
        stop_producing.set()
        producing.join()
