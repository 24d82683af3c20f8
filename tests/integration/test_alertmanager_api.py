"""A real Alertmanager receives our alerts: firing shows as active, resolved disappears."""

from __future__ import annotations

import time

from conftest import get_json
from friction_detector.detectors.alerts import Alert
from friction_detector.streams.observability.alertmanager import AlertmanagerClient


def incident(status: str, starts_at_ms: int, ends_at_ms: int | None = None) -> Alert:
    return Alert(
        status,
        {
            "alertname": "FrictionResetEmailsDelayed",
            "detector": "late_reset_email",
            "severity": "critical",
            "segment": "password_reset",
        },
        {"summary": "Password-reset emails late", "runbook_url": "https://example.org/r.md"},
        starts_at_ms,
        {"share": 0.5},
        ends_at_ms=ends_at_ms,
    )


def active(url: str) -> list[dict]:
    return [
        a
        for a in get_json(url + "/api/v2/alerts?active=true&silenced=false&inhibited=false")
        if a["labels"].get("alertname") == "FrictionResetEmailsDelayed"
    ]


def test_firing_alert_is_active_then_gone_once_resolved(alertmanager_url):
    client = AlertmanagerClient(alertmanager_url, resend_interval_s=60)
    starts = int(time.time() * 1000) - 120_000
    firing = incident("firing", starts)
    assert client.publish([firing])
    shown = active(alertmanager_url)
    assert len(shown) == 1
    assert shown[0]["status"]["state"] == "active"
    assert shown[0]["labels"]["segment"] == "password_reset"
    assert shown[0]["annotations"]["alert_id"] == firing.alert_id
    assert shown[0]["annotations"]["runbook_url"] == "https://example.org/r.md"

    assert client.resend_due(time.time() + 61)  # a re-send keeps it active
    assert len(active(alertmanager_url)) == 1

    resolved = incident("resolved", starts, int(time.time() * 1000) - 1000)
    assert resolved.alert_id == firing.alert_id
    assert client.publish([resolved])
    assert active(alertmanager_url) == []
