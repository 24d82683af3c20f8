"""The worker's /metrics with stage 1 in a process of its own: the child's series added to the
worker's, as one worker's (streams/observability/merged_metrics.py)."""

from __future__ import annotations

from friction_detector.streams.observability.merged_metrics import (
    STAGE1_FAMILIES,
    MergedCollector,
    snapshot,
)
from friction_detector.streams.observability.metrics import FrictionMetrics
from prometheus_client import generate_latest


def two_processes() -> tuple[FrictionMetrics, FrictionMetrics, MergedCollector]:
    worker, child = FrictionMetrics({"click"}), FrictionMetrics({"click"})
    return worker, child, MergedCollector(worker.registry)


def test_counters_and_histograms_of_both_processes_are_summed() -> None:
    worker, child, merged = two_processes()
    worker.on_bad_input("invalid_json")
    child.on_bad_input("invalid_json")
    child.on_bad_input("invalid_json")
    child.on_events({"click": 5, "page_view": 2})
    worker.processing.observe(0.002)
    child.processing.observe(0.002)
    child.processing.observe(0.00002)
    merged.update(snapshot(child.registry))
    served = merged.served()
    assert served.get_sample_value("friction_bad_input_total", {"reason": "invalid_json"}) == 3
    assert served.get_sample_value("friction_events_total", {"type": "click"}) == 5
    assert served.get_sample_value("friction_events_total", {"type": "other"}) == 2
    assert served.get_sample_value("friction_event_processing_seconds_count") == 3
    bucket = {"le": "0.005"}
    assert served.get_sample_value("friction_event_processing_seconds_bucket", bucket) == 3
    small = {"le": "5e-05"}
    assert served.get_sample_value("friction_event_processing_seconds_bucket", small) == 1


def test_a_series_only_the_child_has_is_served_as_it_is() -> None:
    worker, child, merged = two_processes()
    child.consumer_lag.labels("events", "0").set(7)
    worker.consumer_lag.labels("app-routed", "0").set(2)
    merged.update(snapshot(child.registry))
    served = merged.served()
    lag = "friction_consumer_lag_messages"
    assert served.get_sample_value(lag, {"topic": "events", "partition": "0"}) == 7
    assert served.get_sample_value(lag, {"topic": "app-routed", "partition": "0"}) == 2


def test_a_timestamp_is_the_later_one_and_a_series_start_the_earlier() -> None:
    worker, child, merged = two_processes()
    worker.last_event.set(2000.0)
    child.last_event.set(1000.0)
    merged.update(snapshot(child.registry))
    served = merged.served()
    assert served.get_sample_value("friction_last_event_timestamp_seconds") == 2000.0
    created = "friction_bad_input_created"
    labels = {"reason": "invalid_json"}
    earliest = min(
        worker.registry.get_sample_value(created, labels),
        child.registry.get_sample_value(created, labels),
    )
    assert served.get_sample_value(created, labels) == earliest


def test_the_child_sends_only_what_stage_one_writes() -> None:
    _, child, _ = two_processes()
    sent = snapshot(child.registry)
    assert set(sent) <= STAGE1_FAMILIES
    assert "friction_events" in sent
    assert "friction_build_info" not in sent  # one per worker, not summed to 2
    assert "friction_findings" not in sent


def test_without_a_snapshot_the_worker_serves_its_own_registry() -> None:
    worker, _, merged = two_processes()
    worker.on_bad_input("invalid_json")
    assert generate_latest(merged.served()) == generate_latest(worker.registry)


def test_a_scrape_may_ask_for_some_families_by_name() -> None:
    worker, child, merged = two_processes()
    child.on_bad_input("invalid_json")
    merged.update(snapshot(child.registry))
    restricted = merged.served().restricted_registry(["friction_bad_input_total"])
    text = generate_latest(restricted).decode()
    assert 'friction_bad_input_total{reason="invalid_json"} 1.0' in text
    assert "friction_events_total" not in text
