"""Faust's view of Kafka, consumer lag and commit latency, in our registry and in seconds.

Faust's own Prometheus sensor registers on the default registry, replaces the app's monitor and
reports milliseconds; this sensor feeds `FrictionMetrics` instead, beside the detector metrics.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import faust
from faust.types import TP, Message
from friction_detector.streams.observability.metrics import FrictionMetrics


class KafkaClientSensor(faust.Sensor):
    """Lag per consumed partition; latency of each offset commit.

    The lag is read when Prometheus scrapes: a message only records its offset (a dict
    assignment), since looking up the partition's high-water mark and the gauge's child for
    every message cost a fiftieth of a worker's CPU on one event per message.
    """

    def __init__(self, app: faust.App, metrics: FrictionMetrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app = app
        self.metrics = metrics
        self.read: dict[TP, int] = {}  # the offset of each partition's last message in
        self.lags: dict[TP, float] = {}  # each partition's lag when last read

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        if tp not in self.read:  # its gauge reads the lag at each scrape from now on
            gauge = self.metrics.consumer_lag.labels(tp.topic, str(tp.partition))
            gauge.set_function(functools.partial(self.lag, tp))
        self.read[tp] = offset

    def lag(self, tp: TP) -> float:
        """Messages behind the partition's end, as of its last message in. A partition no
        longer assigned keeps the lag last read (its new owner reports its own)."""
        try:
            highwater = self.app.consumer.highwater(tp)
        except Exception:  # revoked: the consumer no longer tracks the partition
            highwater = None
        if highwater is not None:
            self.lags[tp] = float(max(0, highwater - self.read[tp] - 1))
        return self.lags.get(tp, 0.0)

    def on_commit_initiated(self, consumer: Any) -> float:
        return time.monotonic()

    def on_commit_completed(self, consumer: Any, state: Any) -> None:
        self.metrics.commit_latency.observe(time.monotonic() - state)
