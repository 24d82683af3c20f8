"""Label values that producers choose are bounded per metric: the rest fold into `other`."""

from __future__ import annotations

import argparse

import pytest
from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.outcomes import OUTCOMES
from friction_detector.streams.kafka.settings import SettingsError, resolve
from friction_detector.streams.observability.metrics import FrictionMetrics
from prometheus_client import generate_latest


def exposition(metrics: FrictionMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def finding(segment: str) -> Finding:
    return Finding(
        detector="dead_click",
        kind="dead_click",
        severity="warning",
        time_ms=0,
        subject={},
        summary="",
        evidence={},
        segment=segment,
    )


def finding_series(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("friction_findings_total{")]


def test_three_hundred_unique_segments_make_at_most_the_bound_and_other():
    metrics = FrictionMetrics({"click"}, label_values=100)
    for n in range(300):
        metrics.on_finding(finding(f"segment-{n}"))
    text = exposition(metrics)
    series = finding_series(text)
    assert len(series) == 101
    assert any('segment="other"' in line and line.endswith(" 200.0") for line in series)
    assert 'friction_metric_labels_folded_total{metric="friction_findings_total"} 200.0' in text


def test_a_value_seen_before_the_bound_was_reached_keeps_its_series():
    metrics = FrictionMetrics({"click"}, label_values=2)
    for segment in ("a", "b", "c", "a"):
        metrics.on_finding(finding(segment))
    series = finding_series(exposition(metrics))
    assert any('segment="a"' in line and line.endswith(" 2.0") for line in series)
    assert any('segment="other"' in line and line.endswith(" 1.0") for line in series)


def test_measurements_fold_their_label_too():
    metrics = FrictionMetrics({"page_load"}, detectors=[SlowCheckout()], label_values=1)
    metrics.on_measurement("slow_checkout", "checkout_load", 1.0, "/checkout/a", 0)
    metrics.on_measurement("slow_checkout", "checkout_load", 1.0, "/checkout/b", 0)
    text = exposition(metrics)
    assert 'friction_checkout_load_seconds_count{page_group="other"} 1.0' in text
    assert (
        'friction_metric_labels_folded_total{metric="friction_checkout_load_seconds"} 1.0' in text
    )


def test_the_folded_counter_is_exported_at_zero_for_each_metric_that_folds():
    text = exposition(FrictionMetrics(set()))
    for metric in ("friction_findings_total", "friction_alerts_firing"):
        assert f'friction_metric_labels_folded_total{{metric="{metric}"}} 0.0' in text


def test_the_bound_is_a_worker_setting():
    env = {"FRICTION_METRIC_LABEL_VALUES": "25"}
    assert resolve(argparse.Namespace(), worker=True, env=env).metric_label_values == 25
    assert resolve(argparse.Namespace(), worker=True, env={}).metric_label_values == 100


def test_a_bound_below_one_is_refused():
    with pytest.raises(SettingsError, match="metric-label-values"):
        resolve(argparse.Namespace(metric_label_values=0), worker=True, env={})


def test_journeys_opened_again_keep_their_series_and_count_each_fold():
    """A journey's series are put at 0 once per segment; a folded segment is still counted
    each time it comes."""
    metrics = FrictionMetrics(set(), label_values=1)
    for segment in ("a", "a", "b", "b"):
        metrics.on_journey_opened("checkout_journey", segment, interrupted=False)
    text = exposition(metrics)
    series = sorted(
        line
        for line in text.splitlines()
        if line.startswith("friction_journeys_without_friction_total{")
    )
    assert series == sorted(
        f'friction_journeys_without_friction_total{{detector="checkout_journey",'
        f'outcome="{outcome}",segment="{segment}"}} 0.0'
        for outcome in OUTCOMES
        for segment in ("a", "other")
    )
    metric = "friction_journeys_without_friction_total"
    assert f'friction_metric_labels_folded_total{{metric="{metric}"}} 2.0' in text
