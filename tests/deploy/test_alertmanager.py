"""Alertmanager's configuration: amtool accepts it, routes by severity, and a real Alertmanager
inhibits friction alerts while the pipeline is broken."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from debian_tools import assert_ok, run, tool
from loopback import running_alertmanager

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


def test_amtool_accepts_the_configuration():
    assert_ok(run("amtool", "check-config", str(CONFIG)))


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        # A page is also posted in the team's chat (the pager route continues).
        (["alertname=FrictionWorkerDown", "severity=critical"], "pager,chat"),
        (
            [
                "alertname=FrictionResetEmailsDelayed",
                "severity=critical",
                "detector=late_reset_email",
            ],
            "pager,chat",
        ),
        (["alertname=FrictionDeadLetterRateHigh", "severity=warning"], "chat"),
        (
            ["alertname=FrictionChatWaitsLong", "severity=warning", "detector=long_chat_wait"],
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


def call(url: str, body: object | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read()
    return json.loads(text) if text else None


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """The base URL of a fresh Alertmanager on a free loopback port, with our configuration."""
    with running_alertmanager(tool("prometheus-alertmanager"), CONFIG, tmp_path) as url:
        yield url


def states(url: str, alerts: list[dict[str, str]]) -> dict[str, str]:
    """Post alerts (labels only) and return alertname/instance -> active or suppressed, once
    Alertmanager agrees with itself: its inhibitor learns of a posted alert on a goroutine of
    its own, so a read at once can show active an alert that is suppressed a moment later."""
    call(f"{url}/api/v2/alerts", [{"labels": labels} for labels in alerts])
    deadline = time.monotonic() + 10
    result = _states(url)
    while time.monotonic() < deadline:
        time.sleep(0.25)
        again = _states(url)
        if again == result and len(again) == len(alerts):
            return again
        result = again
    return result


def _states(url: str) -> dict[str, str]:
    result = {}
    for alert in call(f"{url}/api/v2/alerts"):
        labels = alert["labels"]
        key = "/".join(filter(None, [labels["alertname"], labels.get("instance")]))
        result[key] = alert["status"]["state"]
    return result


# Where an alert comes from: Prometheus's external_labels and its
# friction_pipeline target label, or the engine's
# `[alerts] labels` (the deploy files set both alike: tests/deploy/test_alert_labels.py).
PROD = {"environment": "production", "friction_pipeline": "friction-detector"}
STAGING = {"environment": "staging", "friction_pipeline": "friction-detector"}


def test_a_broken_pipeline_mutes_friction_alerts_but_not_pipeline_alerts(alertmanager):
    got = states(
        alertmanager,
        [
            {
                "alertname": "FrictionWorkerDown",
                "severity": "critical",
                "instance": "w1:9108",
                **PROD,
            },
            # Two alerts of the alert engine, a warning and a critical one.
            {
                "alertname": "FrictionCheckoutSlowLoads",
                "severity": "warning",
                "detector": "slow_checkout",
                "segment": "/checkout/payment",
                **PROD,
            },
            {
                "alertname": "FrictionResetEmailsDelayed",
                "severity": "critical",
                "detector": "late_reset_email",
                "segment": "password_reset",
                **PROD,
            },
            {"alertname": "FrictionDeadLetterRateHigh", "severity": "warning", **PROD},
        ],
    )
    assert got["FrictionWorkerDown/w1:9108"] == "active"
    assert got["FrictionCheckoutSlowLoads"] == "suppressed"
    assert got["FrictionResetEmailsDelayed"] == "suppressed"
    assert got["FrictionDeadLetterRateHigh"] == "active"


def test_a_broken_pipeline_mutes_the_friction_alerts_of_its_own_environment_only(alertmanager):
    def engine_alert(environment: dict[str, str]) -> dict[str, str]:
        return {
            "alertname": "FrictionResetEmailsDelayed",
            "severity": "critical",
            "detector": "late_reset_email",
            "segment": "password_reset",
            "instance": environment["environment"],  # only to tell the alerts apart here
            **environment,
        }

    got = states(
        alertmanager,
        [
            {"alertname": "FrictionNoEvents", "severity": "critical", **STAGING},
            engine_alert(STAGING),
            engine_alert(PROD),
        ],
    )
    assert got["FrictionResetEmailsDelayed/staging"] == "suppressed"
    assert got["FrictionResetEmailsDelayed/production"] == "active"


def test_a_down_worker_of_another_pipeline_mutes_nothing_here(alertmanager):
    got = states(
        alertmanager,
        [
            {
                "alertname": "FrictionWorkerDown",
                "severity": "critical",
                "environment": "production",
                "friction_pipeline": "other-pipeline",
            },
            {
                "alertname": "FrictionChatWaitsLong",
                "severity": "warning",
                "detector": "long_chat_wait",
                "segment": "billing",
                **PROD,
            },
        ],
    )
    assert got["FrictionChatWaitsLong"] == "active"


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
