"""Which answers are retried, and how long the sender waits between attempts."""

from __future__ import annotations

import random

import pytest
from friction_detector.streams.webhook.policy import (
    DELIVERED,
    REFUSED,
    RETRY,
    RetryPolicy,
    retry_after,
    verdict,
)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, DELIVERED), (202, DELIVERED), (204, DELIVERED),
        (None, RETRY), (500, RETRY), (502, RETRY), (503, RETRY), (408, RETRY), (429, RETRY),
        (400, REFUSED), (401, REFUSED), (403, REFUSED), (404, REFUSED), (413, REFUSED),
        (301, REFUSED), (307, REFUSED),
    ],
)  # fmt: skip
def test_verdict_of_each_answer(status, expected):
    assert verdict(status) == expected


def test_wait_doubles_within_jitter_and_stops_at_the_cap():
    policy = RetryPolicy(max_attempts=10, backoff_s=1.0, max_backoff_s=8.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 8), (9, 8)]:
        waits = [policy.delay(attempt, rng) for _ in range(200)]
        assert min(waits) >= ceiling / 2 and max(waits) <= ceiling
        assert max(waits) - min(waits) > ceiling / 4  # jittered, not one fixed value


def test_retry_after_lengthens_the_wait_up_to_the_cap():
    policy = RetryPolicy(max_attempts=3, backoff_s=0.1, max_backoff_s=5.0)
    rng = random.Random(1)
    assert policy.delay(1, rng, retry_after_s=3) == 3
    assert policy.delay(1, rng, retry_after_s=3600) == 5.0


@pytest.mark.parametrize(
    ("header", "seconds"), [("2", 2.0), (" 1.5 ", 1.5), ("-1", None), ("Wed, 21 Oct", None)]
)
def test_retry_after_header(header, seconds):
    assert retry_after(header) == seconds


def test_gives_up_after_max_attempts():
    policy = RetryPolicy(max_attempts=3)
    assert [policy.gives_up_after(n) for n in (1, 2, 3)] == [False, False, True]
