"""Push alerts to Alertmanager's HTTP API v2 (`POST /api/v2/alerts`), with re-sends.

Alertmanager forgets an alert whose `endsAt` has passed, so a firing alert is sent with `endsAt`
a few re-send intervals ahead and re-sent every `resend_interval_s` (`resend_due`): if this
process dies, Alertmanager resolves it by itself a little later. A resolved alert is sent once
with its `endsAt`. Errors never reach the caller: they are logged, failed resolved messages are
retried with backoff on the next `resend_due`, and firing alerts are re-sent anyway.

Calls block for at most `timeout_s`; from an asyncio worker, call them in an executor.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import orjson
from friction_detector.detectors.alerts import Alert
from friction_detector.detectors.timefmt import format_time

log = logging.getLogger(__name__)

API_PATH = "/api/v2/alerts"
VALID_FOR_RESENDS = 4  # a firing alert's endsAt: this many re-send intervals ahead
MAX_BACKOFF_S = 300.0


class AlertmanagerClient:
    """Sends firing and resolved alerts; `publish` for new messages, `resend_due` on a timer."""

    def __init__(
        self,
        url: str,
        resend_interval_s: float = 60.0,
        *,
        timeout_s: float = 5.0,
        generator_url: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.endpoint = url.rstrip("/") + API_PATH
        self.resend_interval_s = resend_interval_s
        self.timeout_s = timeout_s
        self.generator_url = generator_url
        self.clock = clock
        self._lock = threading.Lock()
        self._firing: dict[str, tuple[Alert, float]] = {}  # alert_id -> (alert, last sent)
        self._unsent: dict[str, Alert] = {}  # resolved messages still to deliver
        self._failures = 0
        self._retry_at = 0.0
        self.sent = 0
        self.errors = 0

    def publish(self, alerts: list[Alert]) -> bool:
        """Send new firing and resolved messages now; False (logged) if Alertmanager refused."""
        if not alerts:
            return True
        with self._lock:
            for alert in alerts:
                if alert.status == "firing":
                    self._firing[alert.alert_id] = (alert, 0.0)
                else:
                    self._firing.pop(alert.alert_id, None)
                    self._unsent[alert.alert_id] = alert
            return self._send(list(alerts), self.clock())

    def resend_due(self, now: float | None = None) -> bool:
        """Re-send firing alerts not sent for `resend_interval_s`, and undelivered resolutions."""
        with self._lock:
            now = self.clock() if now is None else now
            if now < self._retry_at:
                return False  # backing off after a failure
            due = [a for a, sent in self._firing.values() if now - sent >= self.resend_interval_s]
            due += self._unsent.values()
            if not due:
                return True
            return self._send(due, now)

    def forget_firing(self) -> None:
        """Stop re-sending the firing alerts: another worker owns them now. Resolutions not
        yet delivered are still sent."""
        with self._lock:
            self._firing.clear()

    def firing_ids(self) -> set[str]:
        with self._lock:
            return set(self._firing)

    # -- the request ---------------------------------------------------------------------

    def _send(self, alerts: list[Alert], now: float) -> bool:
        body = orjson.dumps([self._wire(a, now) for a in alerts])
        request = urllib.request.Request(
            self.endpoint, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as err:
            detail = err.read()[:500].decode("utf-8", "replace").strip()
            if 400 <= err.code < 500:
                # Alertmanager refused the messages themselves: re-sending will not help.
                log.error(
                    "Alertmanager %s refused %d alert(s): HTTP %d %s",
                    self.endpoint,
                    len(alerts),
                    err.code,
                    detail,
                )
                self.errors += 1
                self._delivered(alerts, now)
                return False
            return self._failed(alerts, now, f"HTTP {err.code} {detail}")
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            reason = getattr(err, "reason", err)
            return self._failed(alerts, now, f"{type(err).__name__}: {reason}")
        self._delivered(alerts, now)
        self.sent += len(alerts)
        self._failures = 0
        self._retry_at = 0.0
        return True

    def _delivered(self, alerts: list[Alert], now: float) -> None:
        for alert in alerts:
            if alert.status == "firing":
                if alert.alert_id in self._firing:
                    self._firing[alert.alert_id] = (alert, now)
            else:
                self._unsent.pop(alert.alert_id, None)

    def _failed(self, alerts: list[Alert], now: float, reason: str) -> bool:
        self.errors += 1
        self._failures += 1
        backoff = min(MAX_BACKOFF_S, 2.0 ** (self._failures - 1))
        self._retry_at = now + backoff
        log.warning(
            "Alertmanager %s unreachable (%s); %d alert(s) kept, retrying in %.0f s or at the "
            "next re-send",
            self.endpoint,
            reason,
            len(alerts),
            backoff,
        )
        return False

    def _wire(self, alert: Alert, now: float) -> dict:
        if alert.status == "resolved" and alert.ends_at_ms is not None:
            ends_at = format_time(alert.ends_at_ms)
        else:
            valid_for = VALID_FOR_RESENDS * self.resend_interval_s
            ends_at = format_time(int((now + valid_for) * 1000))
        annotations = {k: str(v) for k, v in alert.annotations.items() if v}
        annotations["alert_id"] = alert.alert_id
        wire = {
            "labels": {k: str(v) for k, v in alert.labels.items() if v},
            "annotations": annotations,
            "startsAt": format_time(alert.starts_at_ms),
            "endsAt": ends_at,
        }
        if self.generator_url:
            wire["generatorURL"] = self.generator_url
        return wire
