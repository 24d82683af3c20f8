"""The webhook sender against a real local HTTP receiver: signed deliveries, a receiver that
fails then recovers, one that refuses, one that never recovers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
import pytest
from friction_detector.detectors.alerts import Alert
from friction_detector.detectors.findings import Finding
from friction_detector.streams.webhook.metrics import WebhookMetrics
from friction_detector.streams.webhook.policy import RetryPolicy
from friction_detector.streams.webhook.records import Record, alert_record, finding_record
from friction_detector.streams.webhook.sender import WebhookSender
from loopback import free_port
from webhook_receiver import SECRET, Receiver

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "webhook.schema.json").read_text())


def findings(n: int) -> list[Record]:
    return [
        finding_record(
            Finding(
                detector="slow_checkout",
                kind="slow_load",
                severity="warning",
                time_ms=1_700_000_000_000 + i,
                subject={"session_id": f"s-{i}"},
                summary="Checkout took 6.2 s to load.",
                evidence={"duration_ms": 6200, "threshold_ms": 4000},
                session_id=f"s-{i}",
                segment="/checkout/payment",
            )
        )
        for i in range(n)
    ]


def sender_for(receiver: Receiver, **options) -> WebhookSender:
    settings = {
        "policy": RetryPolicy(max_attempts=5, backoff_s=0.05, max_backoff_s=0.2),
        "timeout_s": 5.0,
        "queue_size": 1000,
        "batch_size": 10,
        **options,
    }
    return WebhookSender(
        receiver.url, SECRET.encode(), origin="worker", metrics=WebhookMetrics(), **settings
    )


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


def test_records_arrive_signed_in_batches_and_are_counted(receiver):
    sender = sender_for(receiver)
    sender.offer(findings(25))
    assert sender.close(timeout_s=10) == 0
    assert [r.problem for r in receiver.received] == [None] * len(receiver.received)
    ids = [r["finding"]["finding_id"] for r in receiver.records()]
    assert ids == [r.body["finding_id"] for r in findings(25)]
    assert all(len(r.doc["records"]) <= 10 for r in receiver.received)
    counts = sender.metrics.counts()
    assert counts["records"]["finding"] == 25
    assert counts["deliveries"]["delivered"] == len(receiver.received)
    assert sum(counts["dropped"].values()) == 0
    seconds = sender.metrics.registry.get_sample_value("friction_webhook_delivery_seconds_count")
    assert seconds == len(receiver.received)


def test_delivered_bodies_follow_the_schema(receiver):
    alert = Alert(
        status="resolved",
        labels={"alertname": "FrictionCheckoutSlowLoads", "detector": "slow_checkout",
                "severity": "warning", "segment": "/checkout"},
        annotations={"summary": "Slow checkout loads.", "runbook_url": "https://x/r.md"},
        starts_at_ms=1_700_000_000_000,
        ends_at_ms=1_700_000_600_000,
        value={"rate_per_min": 3.5, "threshold": 2},
    )  # fmt: skip
    sender = sender_for(receiver)
    sender.offer([*findings(2), alert_record(alert)])
    sender.close(timeout_s=10)
    assert receiver.accepted()
    for request in receiver.accepted():
        jsonschema.validate(request.doc, SCHEMA, format_checker=jsonschema.FormatChecker())


def test_receiver_failing_then_recovering_gets_every_record_and_retries_are_counted():
    with Receiver(statuses=[503, 503, 503]) as receiver:
        sender = sender_for(receiver, batch_size=100)
        sender.offer(findings(5))
        assert sender.close(timeout_s=10) == 0
    assert [r.status for r in receiver.received] == [503, 503, 503, 204]
    assert len({r.headers["X-Friction-Delivery"] for r in receiver.received}) == 1
    assert len({r.body for r in receiver.received}) == 1  # the same body, signed afresh
    assert all(r.problem is None for r in receiver.received)
    assert len(receiver.records()) == 5
    counts = sender.metrics.counts()
    assert counts["deliveries"] == {"delivered": 1, "retried": 3, "failed": 0, "refused": 0}
    assert sum(counts["dropped"].values()) == 0


def test_connection_refused_until_the_receiver_starts_is_retried():
    port = free_port()
    sender = WebhookSender(
        f"http://127.0.0.1:{port}/hooks", SECRET.encode(), origin="worker",
        metrics=WebhookMetrics(), policy=RetryPolicy(40, 0.05, 0.1), timeout_s=2,
    )  # fmt: skip
    sender.offer(findings(3))
    time.sleep(0.3)  # a few refused attempts
    with Receiver(port=port) as receiver:
        assert sender.close(timeout_s=10) == 0
        assert len(receiver.records()) == 3
    assert sender.metrics.counts()["deliveries"]["retried"] >= 1


def test_client_error_is_not_retried_and_its_records_are_counted_as_refused():
    with Receiver(status=400) as receiver:
        sender = sender_for(receiver, batch_size=100)
        sender.offer(findings(4))
        sender.close(timeout_s=10)
    assert len(receiver.received) == 1
    counts = sender.metrics.counts()
    assert counts["deliveries"]["refused"] == 1
    assert counts["dropped"]["refused"] == 4


def test_too_many_requests_is_retried():
    with Receiver(statuses=[429]) as receiver:
        sender = sender_for(receiver)
        sender.offer(findings(1))
        sender.close(timeout_s=10)
    assert [r.status for r in receiver.received] == [429, 204]


def test_receiver_that_never_recovers_drops_the_batch_after_max_attempts():
    with Receiver(status=500) as receiver:
        sender = sender_for(receiver, policy=RetryPolicy(3, 0.01, 0.02), batch_size=100)
        sender.offer(findings(6))
        sender.close(timeout_s=10)
    assert len(receiver.received) == 3
    counts = sender.metrics.counts()
    assert counts["deliveries"] == {"delivered": 0, "retried": 2, "failed": 1, "refused": 0}
    assert counts["dropped"]["failed"] == 6


def test_slow_receiver_answers_too_late_and_the_attempt_is_retried():
    with Receiver(delay_s=1.0) as receiver:
        sender = sender_for(receiver, timeout_s=0.3, policy=RetryPolicy(2, 0.01, 0.02))
        sender.offer(findings(1))
        sender.close(timeout_s=10)
    counts = sender.metrics.counts()
    assert counts["deliveries"]["retried"] == 1
    assert counts["deliveries"]["failed"] == 1
    assert counts["dropped"]["failed"] == 1
