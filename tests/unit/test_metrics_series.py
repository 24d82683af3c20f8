"""Every known label value is exported at 0 before anything happens, so rate() sees the first."""

from __future__ import annotations

from friction_detector.detectors.builtin.dead_click import DeadClick
from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
from friction_detector.detectors.events import BAD_INPUT_REASONS
from friction_detector.streams.observability.metrics import FrictionMetrics
from prometheus_client import generate_latest


def exposition(metrics: FrictionMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_bad_input_reasons_are_exported_at_zero_before_any_message():
    text = exposition(FrictionMetrics({"page_load"}))
    worker_reasons = ("processing_error", "refused_by_broker", "detector_error", "state_too_large")
    for reason in (*BAD_INPUT_REASONS, *worker_reasons):
        assert f'friction_bad_input_total{{reason="{reason}"}} 0.0' in text


def test_detector_errors_are_exported_at_zero_for_every_enabled_detector():
    text = exposition(FrictionMetrics({"click"}, detectors=[DeadClick(), SlowCheckout()]))
    assert 'friction_detector_errors_total{detector="dead_click"} 0.0' in text
    assert 'friction_detector_errors_total{detector="slow_checkout"} 0.0' in text


def test_alert_messages_are_exported_at_zero_firing_and_resolved():
    metrics = FrictionMetrics(set(), alerts=[("FrictionChatWaitsLong", "long_chat_wait")])
    text = exposition(metrics)
    for status in ("firing", "resolved"):
        assert (
            'friction_alerts_total{alertname="FrictionChatWaitsLong",'
            f'detector="long_chat_wait",status="{status}"}} 0.0'
        ) in text


def test_consumed_event_types_are_exported_at_zero():
    text = exposition(FrictionMetrics({"page_load"}))
    assert 'friction_events_total{type="page_load"} 0.0' in text
    assert 'friction_events_total{type="other"} 0.0' in text


def test_events_of_types_no_detector_consumes_are_counted_as_other():
    metrics = FrictionMetrics({"page_load"})
    metrics.on_events({"page_load": 3, "made_up": 2, "another": 1})
    metrics.on_events({"made_up": 4})
    text = exposition(metrics)
    assert 'friction_events_total{type="page_load"} 3.0' in text
    assert 'friction_events_total{type="other"} 7.0' in text
    assert "made_up" not in text


def test_alert_series_name_the_default_rules_of_enabled_detectors():
    from friction_detector.detectors.config import build_config
    from friction_detector.streams.observability.metrics import alert_series

    series = alert_series(build_config({}))
    assert ("FrictionChatWaitsLong", "long_chat_wait") in series


def test_changelog_rereads_are_exported_at_zero_for_every_changelog_topic():
    topics = ["app-engine-state-changelog", "app-alert-state-changelog"]
    text = exposition(FrictionMetrics(set(), changelog_topics=topics))
    for topic in topics:
        assert f'friction_changelog_rereads_total{{topic="{topic}"}} 0.0' in text


def test_changelog_topics_are_those_faust_names_for_the_worker_tables(tmp_path):
    from friction_detector.detectors.config import build_config
    from friction_detector.streams.kafka.settings import WorkerSettings
    from friction_detector.streams.worker.app import FrictionApp, changelog_topics

    settings = WorkerSettings(app_id="app-x", data_dir=str(tmp_path))
    friction = FrictionApp(settings, build_config({}), FrictionMetrics(set()))
    tables = [friction.table, friction.accumulation_table, friction.alert_table]
    assert changelog_topics("app-x") == tuple(t.changelog_topic.get_topic_name() for t in tables)
