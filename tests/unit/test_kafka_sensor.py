"""The consumer lag is read at scrape time from each partition's last offset in, and a
partition that is no longer assigned keeps the lag last read."""

from __future__ import annotations

from types import SimpleNamespace

from faust.types import TP
from friction_detector.streams.observability.kafka_sensor import KafkaClientSensor
from friction_detector.streams.observability.metrics import FrictionMetrics
from prometheus_client import generate_latest


class Consumer:
    """The high-water marks of the assigned partitions; an unassigned one raises, as
    aiokafka's consumer does."""

    def __init__(self) -> None:
        self.highwaters: dict[TP, int] = {}

    def highwater(self, tp: TP) -> int:
        return self.highwaters[tp]


def lag(metrics: FrictionMetrics, partition: int) -> str:
    text = generate_latest(metrics.registry).decode()
    prefix = f'friction_consumer_lag_messages{{partition="{partition}",topic="events"}} '
    return next(line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix))


def sensor_reading(tp: TP, highwater: int, offset: int) -> tuple[KafkaClientSensor, Consumer]:
    """A sensor that has seen `offset` of `tp` come in, whose end is at `highwater`."""
    consumer = Consumer()
    consumer.highwaters[tp] = highwater
    sensor = KafkaClientSensor(SimpleNamespace(consumer=consumer), FrictionMetrics(set()))
    sensor.on_message_in(tp, offset, None)  # type: ignore[arg-type]
    return sensor, consumer


def test_the_lag_is_what_the_partition_holds_past_its_last_message_in_when_scraped() -> None:
    tp = TP("events", 1)
    sensor, consumer = sensor_reading(tp, highwater=100, offset=89)
    assert lag(sensor.metrics, 1) == "10.0"  # offsets 90..99 unread

    sensor.on_message_in(tp, 99, None)  # type: ignore[arg-type]
    assert lag(sensor.metrics, 1) == "0.0"
    consumer.highwaters[tp] = 150  # more arrived, none read yet
    assert lag(sensor.metrics, 1) == "50.0"


def test_a_revoked_partition_keeps_the_lag_last_read() -> None:
    tp = TP("events", 2)
    sensor, consumer = sensor_reading(tp, highwater=10, offset=4)
    assert lag(sensor.metrics, 2) == "5.0"
    del consumer.highwaters[tp]  # revoked: its new owner reports its lag
    assert lag(sensor.metrics, 2) == "5.0"
