"""Delivery from a thread of its own, behind a bounded queue that never blocks detection.

`offer` only appends to the queue (a full queue drops the record, counted and logged); the
thread takes up to `batch_size` waiting records at a time, POSTs them as one signed body and
retries it by the policy while new records wait. `close` lets the thread drain the queue for a
bounded time, then counts whatever is left as dropped (`shutdown`): nothing goes unaccounted.
"""

from __future__ import annotations

import http.client
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from friction_detector.streams.webhook.metrics import WebhookMetrics
from friction_detector.streams.webhook.policy import (
    DELIVERED,
    REFUSED,
    RetryPolicy,
    retry_after,
    verdict,
)
from friction_detector.streams.webhook.records import Record, delivery_body
from friction_detector.streams.webhook.signing import DELIVERY_HEADER, signed_headers

log = logging.getLogger(__name__)

DROP_LOG_INTERVAL_S = 10.0
PROGRESS_EVERY_S = 2.0
_ANSWER_BYTES = 500  # of a refusal's body, for the log


class _Answer:
    """What one POST gave: a status (None: no answer), Retry-After, and words for the log."""

    __slots__ = ("status", "retry_after_s", "detail")

    def __init__(self, status: int | None, retry_after_s: float | None, detail: str) -> None:
        self.status = status
        self.retry_after_s = retry_after_s
        self.detail = detail


class WebhookSender:
    """POSTs records to `url`, signed with `secret`; see the module docstring."""

    def __init__(
        self,
        url: str,
        secret: bytes,
        *,
        origin: str,
        metrics: WebhookMetrics,
        policy: RetryPolicy | None = None,
        timeout_s: float = 5.0,
        queue_size: int = 10_000,
        batch_size: int = 100,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.secret = secret
        self.origin = origin
        self.metrics = metrics
        self.policy = policy or RetryPolicy()
        self.timeout_s = timeout_s
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.clock = clock
        self.rng = rng or random.Random()
        self._queue: deque[Record] = deque()
        self._inflight: list[Record] | None = None
        self._cond = threading.Condition()
        self._stopping = False
        self._abort = threading.Event()
        self._unlogged_drops = 0
        self._drop_logged_at = -DROP_LOG_INTERVAL_S
        metrics.watch_depth(self.pending)
        # Started with the first records: a worker forks stage 1's process after building its
        # webhook, and a fork should find no thread running (streams/worker/input_process.py).
        self._thread = threading.Thread(target=self._run, name="friction-webhook", daemon=True)

    # -- the detection side: never blocks -----------------------------------------------------

    def offer(self, records: Iterable[Record]) -> int:
        """Queue `records`; returns how many were dropped because the queue was full."""
        dropped = 0
        with self._cond:
            if self._stopping:
                late = list(records)
                if late:
                    self._drop("shutdown", late)
                return 0
            queue = self._queue
            for record in records:
                if len(queue) < self.queue_size:
                    queue.append(record)
                else:
                    dropped += 1
            if queue:
                if self._thread.ident is None:  # not started yet
                    self._thread.start()
                self._cond.notify()
            if dropped:
                self._queue_full(dropped)
        return dropped

    def pending(self) -> int:
        """Records not yet settled: waiting, and in the POST under way."""
        return len(self._queue) + len(self._inflight or ())

    def _queue_full(self, dropped: int) -> None:
        """Count every drop; log the first, then at most one line per interval with the sum."""
        self.metrics.dropped.labels("queue_full").inc(dropped)
        self._unlogged_drops += dropped
        now = time.monotonic()
        if now - self._drop_logged_at >= DROP_LOG_INTERVAL_S:
            self._log_queue_full()
            self._drop_logged_at = now

    def _log_queue_full(self) -> None:
        if self._unlogged_drops:
            log.warning(
                "webhook %s: queue full (%d records): %d record(s) dropped "
                '(friction_webhook_dropped_total{reason="queue_full"})',
                self.url,
                self.queue_size,
                self._unlogged_drops,
            )
            self._unlogged_drops = 0

    # -- the end ------------------------------------------------------------------------------

    def close(self, timeout_s: float, progress: Callable[[int], None] | None = None) -> int:
        """Deliver what is queued for at most `timeout_s`, then stop; returns how many records
        were left undelivered for want of time (counted as dropped, reason `shutdown`).

        `progress` hears the number still pending every couple of seconds while it waits.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout_s
        while self._thread.is_alive():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._thread.join(min(left, PROGRESS_EVERY_S))
            if self._thread.is_alive() and progress is not None:
                progress(self.pending())
        self._abort.set()  # a retry waiting for its backoff gives up now
        with self._cond:
            left_over = list(self._queue) + list(self._inflight or ())
            self._queue.clear()
            self._inflight = None
            self._log_queue_full()
            if left_over:
                self._drop("shutdown", left_over)
        if left_over:
            log.warning(
                "webhook %s: %d record(s) not delivered within %g s of stopping "
                '(friction_webhook_dropped_total{reason="shutdown"})',
                self.url,
                len(left_over),
                timeout_s,
            )
        return len(left_over)

    # -- the sending thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue or self._abort.is_set():
                    return
                queue = self._queue
                batch = [queue.popleft() for _ in range(min(self.batch_size, len(queue)))]
                self._inflight = batch
            try:
                self._deliver(batch)
            except Exception:  # a bug here must not stop later deliveries
                log.exception("webhook %s: delivery raised; %d record(s) dropped", self.url,
                              len(batch))  # fmt: skip
                self._settle(batch, "failed")

    def _deliver(self, batch: list[Record]) -> None:
        delivery_id = uuid.uuid4().hex
        body = delivery_body(batch, self.origin, delivery_id)
        deliveries = self.metrics.deliveries
        attempt = 0
        while True:
            attempt += 1
            answer = self._post(body, delivery_id)
            outcome = verdict(answer.status)
            if outcome == DELIVERED:
                deliveries.labels("delivered").inc()
                self._settle(batch, DELIVERED)
                return
            if outcome == REFUSED:
                deliveries.labels("refused").inc()
                log.error(
                    "webhook %s refused delivery %s (%d record(s)), not retried: %s",
                    self.url, delivery_id, len(batch), answer.detail,
                )  # fmt: skip
                self._settle(batch, "refused")
                return
            if self.policy.gives_up_after(attempt) or self._abort.is_set():
                deliveries.labels("failed").inc()
                log.error(
                    "webhook %s: delivery %s (%d record(s)) failed after %d attempt(s): %s",
                    self.url, delivery_id, len(batch), attempt, answer.detail,
                )  # fmt: skip
                self._settle(batch, "failed")
                return
            deliveries.labels("retried").inc()
            wait = self.policy.delay(attempt, self.rng, answer.retry_after_s)
            log.warning(
                "webhook %s: delivery %s attempt %d failed (%s); retrying in %.1f s",
                self.url, delivery_id, attempt, answer.detail, wait,
            )  # fmt: skip
            if self._abort.wait(wait):
                return  # close() has counted the batch

    def _settle(self, batch: list[Record], outcome: str) -> None:
        """Count a batch once: unless close() already counted it as left over."""
        with self._cond:
            if self._inflight is not batch:
                return
            self._inflight = None
            if outcome == DELIVERED:
                for record in batch:
                    self.metrics.records.labels(record.record_type).inc()
            else:
                self._drop(outcome, batch)

    def _drop(self, reason: str, records: list[Record]) -> None:
        self.metrics.dropped.labels(reason).inc(len(records))

    def _post(self, body: bytes, delivery_id: str) -> _Answer:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "friction-detector",
            DELIVERY_HEADER: delivery_id,
            **signed_headers(self.secret, int(self.clock()), body),
        }
        connection_type = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = connection_type(self._host, self._port, timeout=self.timeout_s)
        started = time.perf_counter()
        try:
            connection.request("POST", self._path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read(_ANSWER_BYTES).decode("utf-8", "replace").strip()
            status = response.status
            answer = _Answer(
                status, retry_after(response.getheader("Retry-After")), f"HTTP {status} {text}"
            )
        except (OSError, http.client.HTTPException) as err:
            answer = _Answer(None, None, f"{type(err).__name__}: {err}")
        finally:
            connection.close()
            self.metrics.delivery_seconds.observe(time.perf_counter() - started)
        return answer
