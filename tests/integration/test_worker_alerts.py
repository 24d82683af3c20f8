"""A friction spike through the live worker: one alert on the alerts topic and in a real
Alertmanager, firing while the incident lasts, resolved once it is over."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from conftest import get_json, query_series, running_prometheus
from friction_detector.detectors.registry import installed_detectors
from friction_detector.detectors.timefmt import format_time
from helpers_worker import CONTRACT_DETECTORS, Names, TopicReader, Worker, produce_events
from loopback import free_port

pytestmark = pytest.mark.kafka

ALERTNAME = "FrictionResetEmailsDelayed"
# Ten-second evaluation steps so an incident fires and resolves within a test's patience.
ALERT_CONFIG = f"""
[engine]
allowed_lateness_ms = 5000

[alerts]
bucket_s = 10

[alerts.rules.{ALERTNAME}]
window_s = 30
for_s = 10
resolve_after_s = 20

[alerts.rules.FrictionCheckoutSlowLoads]
enabled = false

[alerts.rules.FrictionChatWaitsLong]
enabled = false

[alerts.rules.FrictionFormResubmitSpike]
enabled = false
"""


def write_alert_config(path: Path) -> Path:
    others = [n for n in installed_detectors() if n not in CONTRACT_DETECTORS]
    disabled = "".join(f"\n[detectors.{name}]\nenabled = false\n" for name in others)
    path.write_text(ALERT_CONFIG + disabled)
    return path


def slow_reset_emails(now_ms: int) -> list[dict]:
    """Fifty resets over the last 150 s, each email 70 s late (limit 60 s), none in the future."""
    events = []
    for n in range(50):
        requested = now_ms - 150_000 + n * 1_500
        delivered = min(requested + 70_000, now_ms)
        for kind, at, attrs in (
            ("password_reset_requested", requested, {"request_id": f"r-{n}"}),
            ("email_delivered", delivered, {"request_id": f"r-{n}", "template": "password_reset"}),
        ):
            events.append(
                {
                    "event_id": f"{kind}-{n}",
                    "type": kind,
                    "time": format_time(at),
                    "user_id": f"u-{n}",
                    "session_id": f"s-{n}",
                    "attrs": attrs,
                }
            )
    return sorted(events, key=lambda e: e["time"])


def active_alerts(url: str) -> list[dict]:
    shown = get_json(url + "/api/v2/alerts?active=true&silenced=false&inhibited=false")
    return [a for a in shown if a["labels"].get("alertname") == ALERTNAME]


def wait_until(check, timeout: float, what: str, worker: Worker):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout}s; worker log:\n{worker.tail()}")


def firing_gauge(prometheus: str) -> float | None:
    series = query_series(prometheus, f'friction_alerts_firing{{alertname="{ALERTNAME}"}}')
    return float(series[0]["value"][1]) if series else None


def test_spike_fires_one_alert_everywhere_and_resolves(
    kafka_bootstrap: str, alertmanager_url: str, tmp_path: Path
) -> None:
    names = Names("alerts")
    config = write_alert_config(tmp_path / "f.toml")
    worker = Worker(kafka_bootstrap, config, names, tmp_path / "worker.log")
    metrics_port = free_port()
    worker.args[worker.args.index("--metrics-port") + 1] = str(metrics_port)
    worker.args += ["--alertmanager-url", alertmanager_url, "--alert-resend-s", "10"]
    (tmp_path / "prometheus").mkdir()
    alerts = TopicReader(kafka_bootstrap, names.alerts)
    worker.start()
    try:
        with running_prometheus(tmp_path / "prometheus", [metrics_port]) as prometheus:
            worker.wait_ready()
            now_ms = int(time.time() * 1000)
            produce_events(kafka_bootstrap, names.input, slow_reset_emails(now_ms))

            def messages(status: str) -> list[dict]:
                alerts.poll()
                return [m for m in map(orjson.loads, alerts.values) if m["status"] == status]

            firing = wait_until(lambda: messages("firing"), 90, "no firing alert", worker)
            assert len(firing) == 1
            assert firing[0]["labels"] == {
                "alertname": ALERTNAME,
                "detector": "late_reset_email",
                "severity": "critical",
                "segment": "password_reset",
            }
            assert firing[0]["annotations"]["runbook_url"].endswith(".md")
            shown = wait_until(
                lambda: active_alerts(alertmanager_url), 30, "not in Alertmanager", worker
            )
            assert shown[0]["annotations"]["alert_id"] == firing[0]["alert_id"]
            wait_until(lambda: firing_gauge(prometheus) == 1.0, 30, "not in Prometheus", worker)

            resolved = wait_until(lambda: messages("resolved"), 120, "no resolution", worker)
            assert [m["alert_id"] for m in resolved] == [firing[0]["alert_id"]]
            wait_until(
                lambda: not active_alerts(alertmanager_url), 30, "still in Alertmanager", worker
            )
            wait_until(
                lambda: firing_gauge(prometheus) == 0.0, 30, "still firing in Prometheus", worker
            )
            assert len(messages("firing")) == 1

            # Faust's view of Kafka, beside ours: lag of the input topic, commit latency.
            lag = query_series(
                prometheus, f'friction_consumer_lag_messages{{topic="{names.input}"}}'
            )
            assert lag and all(float(series["value"][1]) == 0 for series in lag)
            commits = query_series(prometheus, "friction_commit_latency_seconds_count")
            assert commits and float(commits[0]["value"][1]) > 0
    finally:
        alerts.close()
        worker.stop()
