"""A detector declares its measurements; the metrics are built from the enabled detectors'."""

from __future__ import annotations

import logging

import pytest
from friction_detector.detectors import Context, Detector, Event, Measurement
from friction_detector.detectors.builtin.long_chat_wait import LongChatWait
from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
from friction_detector.detectors.schema import NUMBER, Attr
from friction_detector.detectors.testing import DetectorHarness, UndeclaredMeasurement, make_event
from friction_detector.streams.observability.metrics import FrictionMetrics
from prometheus_client import generate_latest


class HoldTime(Detector):
    name = "hold_time"
    description = "Measures how long a caller was on hold."
    consumes = {"call_answered": {"hold_s": Attr(NUMBER)}}
    measurements = {
        "call_hold": Measurement(
            metric="friction_call_hold_seconds",
            help="Time a caller waited on hold.",
            buckets=(10, 60, 300),
            label="line",
        )
    }
    observed = "call_hold"

    def state_ttl_ms(self) -> int:
        return 60_000

    def key(self, event: Event) -> str | None:
        return event.session_id

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        ctx.observe(self.observed, event.attrs["hold_s"], "sales")


class UndeclaredHoldTime(HoldTime):
    name = "undeclared_hold_time"
    observed = "hold"


def exposition(metrics: FrictionMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_a_declared_measurement_is_a_histogram_in_the_exposition():
    metrics = FrictionMetrics({"call_answered"}, detectors=[HoldTime()])
    metrics.on_measurement("hold_time", "call_hold", 42.0, "sales", 0)
    text = exposition(metrics)
    assert "# TYPE friction_call_hold_seconds histogram" in text
    assert 'friction_call_hold_seconds_bucket{le="60.0",line="sales"} 1.0' in text


def test_only_enabled_detectors_measurements_are_exported():
    text = exposition(FrictionMetrics({"page_load"}, detectors=[SlowCheckout()]))
    assert "# TYPE friction_checkout_load_seconds histogram" in text
    assert "friction_chat_first_response_seconds" not in text


def test_built_in_measurements_keep_their_metric_label_and_buckets():
    declared = LongChatWait.measurements["chat_first_response"]
    assert declared.metric == "friction_chat_first_response_seconds"
    assert declared.label == "queue"
    assert declared.buckets == (10, 30, 60, 120, 180, 300, 600, 1200)


def test_an_undeclared_observe_raises_in_the_harness():
    harness = DetectorHarness(UndeclaredHoldTime())
    harness.feed(make_event("call_answered", "2026-11-22T10:00:00Z", hold_s=5))
    with pytest.raises(UndeclaredMeasurement, match="undeclared_hold_time.*'hold'.*measurements"):
        harness.advance("2026-11-22T10:01:00Z")


def test_a_declared_observe_is_recorded_by_the_harness():
    harness = DetectorHarness(HoldTime())
    harness.feed(make_event("call_answered", "2026-11-22T10:00:00Z", hold_s=5))
    harness.advance("2026-11-22T10:01:00Z")
    assert harness.measurements == [("call_hold", 5, "sales")]


def test_the_worker_logs_an_undeclared_measurement_once(caplog):
    metrics = FrictionMetrics({"call_answered"}, detectors=[UndeclaredHoldTime()])
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            metrics.on_measurement("undeclared_hold_time", "hold", 5.0, "sales", 0)
    warnings = [r for r in caplog.records if "undeclared measurement" in r.getMessage()]
    assert len(warnings) == 1
    assert "'hold'" in warnings[0].getMessage()
