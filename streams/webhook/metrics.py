"""The webhook's Prometheus metrics, on the registry of the worker's other metrics.

Created only when a webhook is configured, every labelled series from 0, so that `increase()`
sees the first drop. Replay keeps them on a registry of its own and reads its summary from
them (`counts`).
"""

from __future__ import annotations

from collections.abc import Callable

from friction_detector.streams.webhook.settings import RECORD_TYPES
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# One result per POST: delivered; retried (failed, another attempt follows); failed (the last
# attempt failed); refused (a 4xx that is not retried).
RESULTS = ("delivered", "retried", "failed", "refused")
# Records not delivered: the queue was full; every attempt failed; the receiver refused them;
# the process stopped (or replay's flush ran out of time) before they went.
DROP_REASONS = ("queue_full", "failed", "refused", "shutdown")
DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = reg = registry or CollectorRegistry()
        self.deliveries = Counter(
            "friction_webhook_deliveries_total",
            "Webhook POSTs, by result (delivered, retried, failed, refused).",
            ["result"],
            registry=reg,
        )
        self.delivery_seconds = Histogram(
            "friction_webhook_delivery_seconds",
            "Time one webhook POST took, answered or not.",
            buckets=DELIVERY_BUCKETS,
            registry=reg,
        )
        self.records = Counter(
            "friction_webhook_records_total",
            "Records the webhook receiver accepted, by record type.",
            ["record_type"],
            registry=reg,
        )
        self.dropped = Counter(
            "friction_webhook_dropped_total",
            "Records never delivered, by reason (queue_full, failed, refused, shutdown).",
            ["reason"],
            registry=reg,
        )
        self.queue_depth = Gauge(
            "friction_webhook_queue_depth",
            "Records waiting to be sent, the batch being sent included.",
            registry=reg,
        )
        for result in RESULTS:
            self.deliveries.labels(result)
        for reason in DROP_REASONS:
            self.dropped.labels(reason)
        for record_type in RECORD_TYPES:
            self.records.labels(record_type)

    def watch_depth(self, depth: Callable[[], float]) -> None:
        """The gauge reads the queue at scrape time."""
        self.queue_depth.set_function(depth)

    def counts(self) -> dict[str, dict[str, int]]:
        """Current totals: deliveries by result, records by type, drops by reason."""

        def read(name: str, label: str, values: tuple[str, ...]) -> dict[str, int]:
            return {v: int(self.registry.get_sample_value(name, {label: v}) or 0) for v in values}

        return {
            "deliveries": read("friction_webhook_deliveries_total", "result", RESULTS),
            "records": read("friction_webhook_records_total", "record_type", RECORD_TYPES),
            "dropped": read("friction_webhook_dropped_total", "reason", DROP_REASONS),
        }
