"""Bare consumers that only read and parse the pre-loaded events: the client libraries' ceilings.

`bench/peer` runs each in a process of its own over the same topic as the frameworks, so that
a framework's rate reads against what its client library alone can do on the machine. Run as
`python bench/bare_consumers.py {kafka-python,aiokafka,confluent-kafka} BOOTSTRAP TOPIC N`;
prints one JSON line: events/s and CPU seconds, both from the first record read to the N-th.

aiokafka is the client under Faust: its consumer read in batches (`getmany`) is what an input
stage that hands batches to the agents, instead of taking Faust's path message by message,
could reach at most with the client the worker already has.
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson


def kafka_python(bootstrap: str, topic: str, n: int) -> tuple[float, float]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=2000,
        fetch_max_bytes=64 << 20,
    )
    seen, started, cpu = 0, 0.0, 0.0
    while seen < n:
        for records in consumer.poll(timeout_ms=1000).values():
            if not seen:
                started, cpu = time.monotonic(), time.process_time()
            for record in records:
                orjson.loads(record.value)
            seen += len(records)
    result = n / (time.monotonic() - started), time.process_time() - cpu
    consumer.close()
    return result


def aiokafka(bootstrap: str, topic: str, n: int) -> tuple[float, float]:
    """aiokafka's consumer in batches (`getmany`), on an event loop as the worker runs it."""
    from aiokafka import AIOKafkaConsumer

    async def read() -> tuple[float, float]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_bytes=64 << 20,
        )
        await consumer.start()
        try:
            seen, started, cpu = 0, 0.0, 0.0
            while seen < n:
                batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
                for records in batches.values():
                    if not seen:
                        started, cpu = time.monotonic(), time.process_time()
                    for record in records:
                        orjson.loads(record.value)
                    seen += len(records)
            return n / (time.monotonic() - started), time.process_time() - cpu
        finally:
            await consumer.stop()

    return asyncio.run(read())


def confluent_kafka(bootstrap: str, topic: str, n: int) -> tuple[float, float]:
    """librdkafka's consumer in batches (`consume`), as a tuned Python client reads."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bare-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen, started, cpu = 0, 0.0, 0.0
    while seen < n:
        for message in consumer.consume(num_messages=10_000, timeout=1.0):
            if message.error():
                continue
            if not seen:
                started, cpu = time.monotonic(), time.process_time()
            orjson.loads(message.value())
            seen += 1
    result = n / (time.monotonic() - started), time.process_time() - cpu
    consumer.close()
    return result


CONSUMERS = {
    "kafka-python": kafka_python,
    "aiokafka": aiokafka,
    "confluent-kafka": confluent_kafka,
}


def main() -> int:
    name, bootstrap, topic, n = sys.argv[1:5]
    rate, cpu = CONSUMERS[name](bootstrap, topic, int(n))
    print(orjson.dumps({"rate": rate, "cpu_s": cpu}).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
