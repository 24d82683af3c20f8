"""The worker's stage 1 on aiokafka's consumer in batches instead of a Faust agent.

Each batch of records from `getmany` goes through the worker's own `RouteStage` (decode,
validate, route every event to its detector keys, encode the routed messages), its routed
messages are sent with aiokafka's producer and awaited, then the batch's offsets are committed:
the work and the guarantee of stage 1, without Faust's per-message path. `bench/peer` runs it
as `route-aiokafka` beside `worker-all`, whose first stage does the same through Faust, to
measure what an input stage on Faust's own client would cost. Run as
`python bench/aiokafka_route.py BOOTSTRAP TOPIC N ROUTED_TOPIC`; prints one JSON line: events/s
and CPU seconds from the first record read until the N-th record's routes are in Kafka.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from friction_detector.detectors.config import load_config
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.input_reader import INPUT_BATCH_MAX, producer_send
from friction_detector.streams.worker.progress import InputProgress
from friction_detector.streams.worker.records import WorkerRecords
from friction_detector.streams.worker.route import RouteStage


async def route(bootstrap: str, topic: str, n: int, routed_topic: str) -> tuple[float, float]:
    app_id = routed_topic.removesuffix("-routed")
    settings = WorkerSettings(broker=f"kafka://{bootstrap}", app_id=app_id, input_topics=[topic])
    config = load_config(None)
    metrics = FrictionMetrics({t for d in config.detectors for t in d.consumes})
    stage = RouteStage(
        settings,
        config.decoder(),
        config.detectors,
        WorkerRecords(settings, metrics),
        InputProgress(settings.idle_advance_s),
        metrics,
    )
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"route-aiokafka-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    send = producer_send(producer)

    try:
        seen, started, cpu = 0, 0.0, 0.0
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=INPUT_BATCH_MAX)
            if not batches:
                continue
            if not seen:
                started, cpu = time.monotonic(), time.process_time()
            offsets = {}
            for tp, records in batches.items():
                stage.handle(records)
                offsets[TopicPartition(tp.topic, tp.partition)] = records[-1].offset + 1
                seen += len(records)
            await stage.publish(send())
            await consumer.commit(offsets)
        return n / (time.monotonic() - started), time.process_time() - cpu
    finally:
        await producer.stop()
        await consumer.stop()


def main() -> int:
    bootstrap, topic, n, routed_topic = sys.argv[1:5]
    rate, cpu = asyncio.run(route(bootstrap, topic, int(n), routed_topic))
    print(orjson.dumps({"rate": rate, "cpu_s": cpu}).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
