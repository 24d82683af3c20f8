"""The unlocked histogram exports what prometheus_client's own would, for the same values."""

from __future__ import annotations

import re

import pytest
from friction_detector.streams.observability.metrics import PROCESSING_BUCKETS
from friction_detector.streams.observability.unlocked_histogram import UnlockedHistogram
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

# On a bound, just above and below it, far above every bound, zero.
VALUES = [0.0, 0.000_01, 0.000_010_1, 0.000_04, 0.001, 0.002, 0.1, 0.100_1, 7.5, 0.000_5]


def exported(make, generate=generate_latest) -> str:
    registry = CollectorRegistry()
    histogram = make(registry)
    for value in VALUES:
        histogram.observe(value)
    text = generate(registry).decode()
    return re.sub(r"(_created(?:\{[^}]*\})?) \S+", r"\1 <time>", text)  # made at different times


@pytest.mark.parametrize("generate", [generate_latest, openmetrics_latest])
def test_the_exposition_is_prometheus_clients_own(generate):
    def unlocked(registry):
        return UnlockedHistogram("friction_t_seconds", "Time.", PROCESSING_BUCKETS, registry)

    def stock(registry):
        return Histogram(
            "friction_t_seconds", "Time.", buckets=PROCESSING_BUCKETS, registry=registry
        )

    ours = exported(unlocked, generate)
    assert ours == exported(stock, generate)
    assert 'friction_t_seconds_bucket{le="1e-05"} 2.0' in ours  # 0 and the bound itself
    assert 'friction_t_seconds_bucket{le="+Inf"} 10.0' in ours


def test_a_value_on_a_bound_counts_in_that_bound():
    registry = CollectorRegistry()
    histogram = UnlockedHistogram("friction_t_seconds", "Time.", (1.0, 2.0), registry)
    histogram.observe(1.0)
    histogram.observe(2.5)
    text = generate_latest(registry).decode()
    assert 'friction_t_seconds_bucket{le="1.0"} 1.0' in text
    assert 'friction_t_seconds_bucket{le="2.0"} 1.0' in text
    assert 'friction_t_seconds_bucket{le="+Inf"} 2.0' in text
    assert "friction_t_seconds_sum 3.5" in text


@pytest.mark.parametrize("buckets", [(), (2.0, 1.0), (1.0, 1.0), (1.0, float("inf"))])
def test_buckets_must_be_increasing_and_finite(buckets):
    with pytest.raises(ValueError, match="buckets must be increasing"):
        UnlockedHistogram("friction_t_seconds", "Time.", buckets, CollectorRegistry())


def test_a_name_already_registered_is_refused():
    registry = CollectorRegistry()
    Histogram("friction_t_seconds", "Time.", registry=registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        UnlockedHistogram("friction_t_seconds", "Time.", (1.0,), registry)


def test_the_created_series_is_left_out_as_prometheus_client_leaves_it(monkeypatch):
    """PROMETHEUS_DISABLE_CREATED_SERIES, read when the histogram is made."""
    monkeypatch.setenv("PROMETHEUS_DISABLE_CREATED_SERIES", "true")
    registry = CollectorRegistry()
    UnlockedHistogram("friction_t_seconds", "Time.", (1.0,), registry).observe(0.5)
    text = generate_latest(registry).decode()
    assert "friction_t_seconds_count 1.0" in text
    assert "_created" not in text
