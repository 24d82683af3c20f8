"""Alertmanager's configuration: amtool accepts it, routes by severity, and a real Alertmanager
inhibits friction alerts while the pipeline is broken."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from debian_tools import assert_ok, run, tool

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


def test_amtool_accepts_the_configuration():
    assert_ok(run("amtool", "check-config", str(CONFIG)))


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=FrictionWorkerDown", "severity=critical"], "pager"),
        (["alertname=FrictionDeadLetterRateHigh", "severity=warning"], "chat"),
        (
            ["alertname=FrictionChatsUnanswered", "severity=warning", "detector=long_chat_wait"],
            "chat",
        ),
        (["alertname=SomethingElse"], "chat"),
    ],
)
def test_alerts_are_routed_by_severity(labels, receiver):
    assert_ok(
        run(
            "amtool",
            "config",
            "routes",
            "test",
            f"--config.file={CONFIG}",
            f"--verify.receivers={receiver}",
            *labels,
        )
    )


# -- a real Alertmanager ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(url: str, body: object | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read()
    return json.loads(text) if text else None


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """The base URL of a fresh Alertmanager on a free loopback port, with our configuration."""
    binary = tool("prometheus-alertmanager")
    port = free_port()
    storage = tmp_path
    log = (storage / "log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={CONFIG}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip: a single instance
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(f"Alertmanager did not start:\n{(storage / 'log').read_text()}")
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def states(url: str, alerts: list[dict[str, str]]) -> dict[str, str]:
    """Post alerts (labels only) and return alertname/instance -> active or suppressed."""
    call(f"{url}/api/v2/alerts", [{"labels": labels} for labels in alerts])
    result = {}
    for alert in call(f"{url}/api/v2/alerts"):
        labels = alert["labels"]
        key = "/".join(filter(None, [labels["alertname"], labels.get("instance")]))
        result[key] = alert["status"]["state"]
    return result


def test_a_broken_pipeline_mutes_friction_alerts_but_not_pipeline_alerts(alertmanager):
    got = states(
        alertmanager,
        [
            {"alertname": "FrictionWorkerDown", "severity": "critical", "instance": "w1:9108"},
            # An alert of the alert engine, and one of Prometheus's friction rules.
            {
                "alertname": "FrictionCheckoutSlowLoads",
                "severity": "warning",
                "detector": "slow_checkout",
                "segment": "/checkout/payment",
            },
            {
                "alertname": "FrictionResetEmailsLate",
                "severity": "warning",
                "detector": "late_reset_email",
            },
            {"alertname": "FrictionDeadLetterRateHigh", "severity": "warning"},
        ],
    )
    assert got["FrictionWorkerDown/w1:9108"] == "active"
    assert got["FrictionCheckoutSlowLoads"] == "suppressed"
    assert got["FrictionResetEmailsLate"] == "suppressed"
    assert got["FrictionDeadLetterRateHigh"] == "active"


def test_a_stalled_watermark_mutes_the_growing_lag_of_the_same_worker_only(alertmanager):
    got = states(
        alertmanager,
        [
            {"alertname": "FrictionWatermarkStalled", "severity": "critical", "instance": "w2"},
            {"alertname": "FrictionWatermarkLagGrowing", "severity": "warning", "instance": "w2"},
            {"alertname": "FrictionWatermarkLagGrowing", "severity": "warning", "instance": "w3"},
        ],
    )
    assert got["FrictionWatermarkLagGrowing/w2"] == "suppressed"
    assert got["FrictionWatermarkLagGrowing/w3"] == "active"


def test_the_critical_alert_mutes_the_warning_of_the_same_segment_only(alertmanager):
    def engine_alert(severity: str, segment: str) -> dict[str, str]:
        return {
            "alertname": "FrictionCheckoutSlowLoads",
            "severity": severity,
            "detector": "slow_checkout",
            "segment": segment,
            "instance": f"{severity} {segment}",  # only to tell the alerts apart here
        }

    got = states(
        alertmanager,
        [
            engine_alert("critical", "/checkout/payment"),
            engine_alert("warning", "/checkout/payment"),
            engine_alert("warning", "/checkout/cart"),
        ],
    )
    assert got["FrictionCheckoutSlowLoads/critical /checkout/payment"] == "active"
    assert got["FrictionCheckoutSlowLoads/warning /checkout/payment"] == "suppressed"
    assert got["FrictionCheckoutSlowLoads/warning /checkout/cart"] == "active"


def test_an_engine_alert_mutes_the_prometheus_rate_alert_of_its_detector_only(alertmanager):
    got = states(
        alertmanager,
        [
            {
                "alertname": "FrictionResetEmailsDelayed",
                "severity": "critical",
                "detector": "late_reset_email",
                "segment": "password_reset",
            },
            {
                "alertname": "FrictionResetEmailsLate",
                "severity": "warning",
                "detector": "late_reset_email",
            },
            {
                "alertname": "FrictionChatsUnanswered",
                "severity": "warning",
                "detector": "long_chat_wait",
            },
        ],
    )
    assert got["FrictionResetEmailsDelayed"] == "active"
    assert got["FrictionResetEmailsLate"] == "suppressed"
    assert got["FrictionChatsUnanswered"] == "active"
