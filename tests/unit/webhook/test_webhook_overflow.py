"""A full queue drops what does not fit at once, counted; nothing is left unaccounted at the end."""

from __future__ import annotations

import time

from friction_detector.streams.webhook.metrics import WebhookMetrics
from friction_detector.streams.webhook.policy import RetryPolicy
from friction_detector.streams.webhook.records import Record
from friction_detector.streams.webhook.sender import WebhookSender
from loopback import free_port


def records(n: int) -> list[Record]:
    return [Record("finding", {"finding_id": f"f-{i}"}) for i in range(n)]


def unreachable_sender(queue_size: int) -> WebhookSender:
    """Nothing listens on the port, and a failed attempt waits a minute before the next."""
    return WebhookSender(
        f"http://127.0.0.1:{free_port()}/x",
        b"k",
        origin="replay",
        metrics=WebhookMetrics(),
        policy=RetryPolicy(max_attempts=5, backoff_s=60, max_backoff_s=60),
        timeout_s=1,
        queue_size=queue_size,
        batch_size=1,
    )


def test_offer_beyond_the_queue_drops_the_rest_and_counts_them():
    sender = unreachable_sender(queue_size=3)
    started = time.monotonic()
    dropped = sender.offer(records(10))
    assert time.monotonic() - started < 0.1  # the detection side never waits on the endpoint
    assert dropped == 7
    assert sender.metrics.counts()["dropped"]["queue_full"] == 7
    sender.close(timeout_s=0.2)


def test_close_counts_what_was_left_so_every_record_is_accounted_for():
    sender = unreachable_sender(queue_size=3)
    sender.offer(records(10))
    left = sender.close(timeout_s=0.5)
    counts = sender.metrics.counts()
    assert left == 3
    assert counts["dropped"] == {"queue_full": 7, "failed": 0, "refused": 0, "shutdown": 3}
    assert sum(counts["records"].values()) == 0
    assert sender.pending() == 0


def test_offer_after_close_is_counted_as_shutdown():
    sender = unreachable_sender(queue_size=3)
    sender.close(timeout_s=0.1)
    sender.offer(records(2))
    assert sender.metrics.counts()["dropped"]["shutdown"] == 2


def test_queue_depth_gauge_reads_what_waits():
    sender = unreachable_sender(queue_size=5)
    sender.offer(records(5))
    assert sender.metrics.registry.get_sample_value("friction_webhook_queue_depth") == 5
    sender.close(timeout_s=0.1)
    assert sender.metrics.registry.get_sample_value("friction_webhook_queue_depth") == 0
