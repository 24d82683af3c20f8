"""What a failed POST means and when to try again: exponential backoff with jitter.

Worth retrying: no answer (connection refused, reset, timeout), 5xx, 408 and 429 (the
receiver is busy; its `Retry-After` is honoured up to `max_backoff_s`). Any other 4xx, and a
redirect (a POST is not re-sent elsewhere without being told to), says the request itself is
wrong: sending it again cannot help, so it is counted and dropped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

DELIVERED = "delivered"
RETRY = "retry"
REFUSED = "refused"
RETRIED_STATUSES = frozenset({408, 429})


def verdict(status: int | None) -> str:
    """DELIVERED, RETRY or REFUSED for an HTTP status; None is no answer at all."""
    if status is None or status >= 500 or status in RETRIED_STATUSES:
        return RETRY
    if 200 <= status < 300:
        return DELIVERED
    return REFUSED


@dataclass(frozen=True)
class RetryPolicy:
    """`max_attempts` POSTs at most; the wait after attempt n is about `backoff_s * 2**(n-1)`,
    capped at `max_backoff_s`, and drawn between half and all of it so that many senders that
    failed together do not come back together."""

    max_attempts: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0

    def delay(self, attempt: int, rng: random.Random, retry_after_s: float | None = None) -> float:
        ceiling = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        wait = rng.uniform(ceiling / 2, ceiling)
        if retry_after_s is not None:
            wait = max(wait, min(retry_after_s, self.max_backoff_s))
        return wait

    def gives_up_after(self, attempt: int) -> bool:
        return attempt >= self.max_attempts


def retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds; its HTTP-date form is rare from webhooks and ignored."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
