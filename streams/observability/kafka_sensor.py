"""Faust's view of Kafka, consumer lag and commit latency, in our registry and in seconds.

Faust's own Prometheus sensor registers on the default registry, replaces the app's monitor and
reports milliseconds; this sensor feeds `FrictionMetrics` instead, beside the detector metrics.
"""

from __future__ import annotations

import time
from typing import Any

import faust
from faust.types import TP, Message
from friction_detector.streams.observability.metrics import FrictionMetrics


class KafkaClientSensor(faust.Sensor):
    """Lag per consumed partition from each message's offset; latency of each offset commit."""

    def __init__(self, app: faust.App, metrics: FrictionMetrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app = app
        self.metrics = metrics

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        highwater = self.app.consumer.highwater(tp)
        if highwater is not None:
            lag = max(0, highwater - offset - 1)
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)

    def on_commit_initiated(self, consumer: Any) -> float:
        return time.monotonic()

    def on_commit_completed(self, consumer: Any, state: Any) -> None:
        self.metrics.commit_latency.observe(time.monotonic() - state)
