"""Prometheus metrics of a worker or a replay, on the project's own registry.

Names follow Prometheus conventions: `friction_` prefix, units in the name, `_total` counters.
No label carries a user, session or request id; event types no detector consumes share `other`,
and each label whose values producers choose (a segment: page group, selector, template, queue)
keeps at most `label_values` distinct values per metric, later ones folding into `other`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from wsgiref.simple_server import WSGIServer

from friction_detector.detectors.alerts import load_alert_settings
from friction_detector.detectors.api import Detector, Measurement
from friction_detector.detectors.config import Config
from friction_detector.detectors.events import BAD_INPUT_REASONS, Event
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.observer import EngineObserver
from friction_detector.detectors.outcomes import OUTCOMES, JourneyOutcome, Outcome
from friction_detector.streams.dead_letter import RUNTIME_REASONS
from friction_detector.streams.observability.health import Health, health_app, start_server
from friction_detector.streams.observability.unlocked_histogram import UnlockedHistogram
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    make_wsgi_app,
)

DEFAULT_METRICS_PORT = 9108
DEFAULT_LABEL_VALUES = 100
OTHER = "other"

COMMIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
PROCESSING_BUCKETS = (0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1)

log = logging.getLogger(__name__)


ALERT_STATUSES = ("firing", "resolved")


def alert_series(config: Config) -> list[tuple[str, str]]:
    """(alertname, detector) of every alert rule on an enabled detector."""
    enabled = {detector.name for detector in config.detectors}
    rules = load_alert_settings(config.sections.get("alerts")).rules
    return [(rule.alertname, rule.detector) for rule in rules if rule.detector in enabled]


class LabelBound:
    """At most `limit` distinct values of each producer-controlled label of a metric.

    A value first seen once the bound is reached reads `other`, and `folded` counts it: one
    producer sending unique values cannot grow the series without bound.
    """

    def __init__(self, limit: int, folded: Counter) -> None:
        self.limit = limit
        self.folded = folded
        self._seen: dict[tuple[str, str], set[str]] = {}

    def start(self, metric: str) -> None:
        """Export `metric`'s folded count at 0, so the first fold is seen by `increase()`."""
        self.folded.labels(metric)

    def value(self, metric: str, label: str, value: str) -> str:
        seen = self._seen.setdefault((metric, label), set())
        if value in seen:
            return value
        if len(seen) < self.limit:
            seen.add(value)
            return value
        self.folded.labels(metric).inc()
        return OTHER


class Children:
    """A labelled metric's children by their label values, looked up once each.

    `labels()` takes the metric's lock and checks its arguments on every call; the engine's
    hooks run per event and finding, where that cost more than the hook's own work. The label
    values reaching it are bounded (`LabelBound`, detector names, consumed event types), so the
    cache is too.
    """

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child


class FrictionMetrics(EngineObserver):
    """Every metric the project exports, fed by the engine's observer hooks and the runtime.

    `detectors` are the enabled detectors, `alerts` the (alertname, detector) pairs of the
    alert rules and `changelog_topics` those of the worker's tables: their series are exported
    at 0 from the start (see `_start_at_zero`).
    """

    def __init__(
        self,
        consumed_types: set[str],
        version: str = "0",
        registry: CollectorRegistry | None = None,
        *,
        detectors: Sequence[Detector] = (),
        alerts: Iterable[tuple[str, str]] = (),
        changelog_topics: Iterable[str] = (),
        label_values: int = DEFAULT_LABEL_VALUES,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.consumed_types = consumed_types
        reg = self.registry
        # process_* (memory, CPU, open files) and python_* (version, garbage collection), as
        # prometheus_client's default registry has them.
        ProcessCollector(registry=reg)
        PlatformCollector(registry=reg)
        GCCollector(registry=reg)
        self.events = Counter(
            "friction_events_total", "Events accepted, by type.", ["type"], registry=reg
        )
        self.bad_input = Counter(
            "friction_bad_input_total",
            "Messages sent to the dead letters, by reason.",
            ["reason"],
            registry=reg,
        )
        self.duplicates = Counter(
            "friction_duplicate_events_total",
            "Redelivered events dropped by a detector.",
            registry=reg,
        )
        self.detector_errors = Counter(
            "friction_detector_errors_total",
            "Events or deadlines a detector raised on (its bug; the stream went on).",
            ["detector"],
            registry=reg,
        )
        self.late = Counter(
            "friction_late_events_total",
            "Events behind the watermark (applied in arrival order).",
            registry=reg,
        )
        self.findings = Counter(
            "friction_findings_total",
            "Friction moments found.",
            ["detector", "kind", "severity", "segment"],
            registry=reg,
        )
        self.outcomes = Counter(
            "friction_outcomes_total",
            "Outcomes of findings that interrupted a journey: completed or abandoned.",
            ["detector", "segment", "outcome"],
            registry=reg,
        )
        self.journeys = Counter(
            "friction_journeys_without_friction_total",
            "Journeys no finding of the detector interrupted, completed or abandoned by the "
            "same rule and window as an outcome: the base rate outcomes compare with.",
            ["detector", "segment", "outcome"],
            registry=reg,
        )
        self.alerts = Counter(
            "friction_alerts_total",
            "Alert messages sent.",
            ["alertname", "detector", "status"],
            registry=reg,
        )
        self.alerts_firing = Gauge(
            "friction_alerts_firing",
            "1 while an alert fires.",
            ["alertname", "detector", "segment"],
            registry=reg,
        )
        self.watermark_lag = Gauge(
            "friction_watermark_lag_seconds",
            "Wall clock minus the event-time watermark.",
            registry=reg,
        )
        self._watermark_s: float | None = None
        self.watermark_lag.set_function(self._watermark_lag)
        self.last_event = Gauge(
            "friction_last_event_timestamp_seconds",
            "Wall-clock time of the last accepted event.",
            registry=reg,
        )
        self.state_keys = Gauge(
            "friction_detector_state_keys",
            "Keys held in detector state.",
            ["detector"],
            registry=reg,
        )
        # Observed per message on the event loop's thread: without prometheus_client's locks.
        self.processing = UnlockedHistogram(
            "friction_event_processing_seconds",
            "Time to decode and process one event.",
            PROCESSING_BUCKETS,
            reg,
        )
        self.consumer_lag = Gauge(
            "friction_consumer_lag_messages",
            "Messages behind the end of each partition this worker consumes.",
            ["topic", "partition"],
            registry=reg,
        )
        self.held_messages = Gauge(
            "friction_held_messages",
            "Messages handled but left uncommitted while their events wait for the watermark:"
            " what a restart reads again.",
            ["topic", "partition"],
            registry=reg,
        )
        self.changelog_rereads = Counter(
            "friction_changelog_rereads_total",
            "Changelog partitions read again because table recovery stopped receiving them.",
            ["topic"],
            registry=reg,
        )
        self.commit_latency = Histogram(
            "friction_commit_latency_seconds",
            "Time Faust takes to commit consumer offsets.",
            buckets=COMMIT_BUCKETS,
            registry=reg,
        )
        self.bound = LabelBound(
            label_values,
            Counter(
                "friction_metric_labels_folded_total",
                "Label values producers chose beyond the bound per metric, counted as `other`.",
                ["metric"],
                registry=reg,
            ),
        )
        Gauge(
            "friction_build_info", "Version of the running package.", ["version"], registry=reg
        ).labels(version).set(1)
        self._events = Children(self.events)
        self._findings = Children(self.findings)
        self._outcomes = Children(self.outcomes)
        self._journeys = Children(self.journeys)
        self._opened: set[tuple[str, str, str]] = set()  # journeys' series already at 0
        self._state_keys = Children(self.state_keys)
        self._detector_errors = Children(self.detector_errors)
        self._bad_input = Children(self.bad_input)
        self._build_histograms(detectors)
        self._start_at_zero(detectors, alerts, changelog_topics)

    def _build_histograms(self, detectors: Sequence[Detector]) -> None:
        """A histogram per measurement the enabled detectors declare (`Detector.measurements`).

        Detectors may share a metric by declaring the same `Measurement`; two different
        declarations of one metric name are a bug caught at start.
        """
        self.histograms: dict[str, Histogram] = {}
        self._measured: dict[tuple[str, str], tuple[Measurement, Children]] = {}
        self._undeclared: set[tuple[str, str]] = set()
        declared: dict[str, tuple[str, Measurement]] = {}
        for detector in detectors:
            for name, spec in detector.measurements.items():
                first = declared.setdefault(spec.metric, (detector.name, spec))
                if first[1] != spec:
                    raise ValueError(
                        f"{detector.name} and {first[0]} declare {spec.metric} differently"
                    )
                if spec.metric not in self.histograms:
                    self.histograms[spec.metric] = Histogram(
                        spec.metric,
                        spec.help,
                        [spec.label],
                        buckets=spec.buckets,
                        registry=self.registry,
                    )
                children = Children(self.histograms[spec.metric])
                self._measured[(detector.name, name)] = (spec, children)

    def _start_at_zero(
        self,
        detectors: Sequence[Detector],
        alerts: Iterable[tuple[str, str]],
        changelog_topics: Iterable[str],
    ) -> None:
        """Create every known labelled series at 0.

        A labelled counter is otherwise exported only from its first increment, and `rate()` or
        `increase()` cannot see an increment from nothing: the first error or alert went unseen.
        """
        for metric in (
            "friction_findings_total",
            "friction_outcomes_total",
            "friction_journeys_without_friction_total",
            "friction_alerts_firing",
            *self.histograms,
        ):
            self.bound.start(metric)
        for event_type in sorted(self.consumed_types | {OTHER}):
            self.events.labels(event_type)
        for reason in (*BAD_INPUT_REASONS, *RUNTIME_REASONS):
            self.bad_input.labels(reason)
        for detector in detectors:
            self.detector_errors.labels(detector.name)
        for alertname, rule_detector in alerts:
            for status in ALERT_STATUSES:
                self.alerts.labels(alertname, rule_detector, status)
        for topic in changelog_topics:
            self.changelog_rereads.labels(topic)

    def on_event(self, event: Event) -> None:
        self._event_counter(event.type).inc()
        self.last_event.set(time.time())

    def on_events(self, counts: Mapping[str, int]) -> None:
        """Accepted events by type, a batch's at once (stage 1): each increment takes a lock,
        so one per type rather than one per event."""
        for event_type, n in counts.items():
            self._event_counter(event_type).inc(n)
        if counts:
            self.last_event.set(time.time())

    def _event_counter(self, event_type: str) -> Any:
        """Types no detector consumes share `other`: producers choose types."""
        return self._events(event_type if event_type in self.consumed_types else OTHER)

    def on_late(self, event: Event, watermark: int) -> None:
        self.late.inc()

    def on_duplicate(self, detector: str, event: Event) -> None:
        self.duplicates.inc()

    def on_finding(self, finding: Finding) -> None:
        segment = self.bound.value("friction_findings_total", "segment", finding.segment)
        self._findings(finding.detector, finding.kind, finding.severity, segment).inc()

    def on_journey_opened(self, detector: str, segment: str, interrupted: bool) -> None:
        """Both outcomes of the journey's segment at 0 while it is open, so that `increase()`
        sees its outcome (a series born at 1 shows no increase)."""
        name, metric = (
            ("friction_outcomes_total", self.outcomes)
            if interrupted
            else ("friction_journeys_without_friction_total", self.journeys)
        )
        value = self.bound.value(name, "segment", segment)
        if (name, detector, value) in self._opened:
            return
        self._opened.add((name, detector, value))
        for outcome in OUTCOMES:
            metric.labels(detector, value, outcome)

    def on_outcome(self, outcome: Outcome) -> None:
        segment = self.bound.value("friction_outcomes_total", "segment", outcome.segment)
        self._outcomes(outcome.detector, segment, outcome.outcome).inc()

    def on_journey(self, journey: JourneyOutcome) -> None:
        segment = self.bound.value(
            "friction_journeys_without_friction_total", "segment", journey.segment
        )
        self._journeys(journey.detector, segment, journey.outcome).inc()

    def on_measurement(
        self, detector: str, measurement: str, seconds: float, segment: str, time_ms: int
    ) -> None:
        measured = self._measured.get((detector, measurement))
        if measured is None:
            self._warn_undeclared(detector, measurement)
            return
        spec, histogram = measured
        histogram(self.bound.value(spec.metric, spec.label, segment)).observe(seconds)

    def _warn_undeclared(self, detector: str, measurement: str) -> None:
        """Say once per name that a value is not exported, rather than drop it without a word."""
        if (detector, measurement) in self._undeclared:
            return
        self._undeclared.add((detector, measurement))
        log.warning(
            "%s observed undeclared measurement %r: not exported (declare it in the "
            "detector's measurements)",
            detector,
            measurement,
        )

    def on_detector_error(self, detector: str, event: Event | None, error: Exception) -> None:
        self._detector_errors(detector).inc()

    def on_state_size(self, detector: str, keys: int) -> None:
        self._state_keys(detector).set(keys)

    def on_watermark(self, watermark: int) -> None:
        self._watermark_s = watermark / 1000

    def _watermark_lag(self) -> float:
        """Computed at scrape time, so a stalled watermark shows a growing lag."""
        if self._watermark_s is None:
            return 0.0
        return max(0.0, time.time() - self._watermark_s)

    # -- runtime hooks -----------------------------------------------------------------------

    def on_bad_input(self, reason: str) -> None:
        self._bad_input(reason).inc()

    def set_alert_firing(self, alertname: str, detector: str, segment: str, firing: bool) -> None:
        value = self.bound.value("friction_alerts_firing", "segment", segment)
        self.alerts_firing.labels(alertname, detector, value).set(1 if firing else 0)

    def serve(
        self,
        port: int,
        addr: str = "0.0.0.0",
        health: Health | None = None,
        registry: CollectorRegistry | None = None,
    ) -> WSGIServer:
        """Expose /metrics over HTTP in a background thread, on `addr` (all interfaces by default),
        and with `health`, /healthz and /ready on the same port (streams/observability/health.py).
        `registry`: what /metrics serves instead of this registry (merged_metrics.py).

        Returns the server: `server_address` says where it listens (port 0 takes a free port).
        """
        app = make_wsgi_app(registry or self.registry)
        return start_server(health_app(app, health) if health is not None else app, port, addr)
