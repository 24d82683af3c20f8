"""Every runbook an alert links to exists in docs/runbooks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from friction_detector.detectors.alerts import load_alert_settings

ROOT = Path(__file__).resolve().parents[3]
BASE = "https://github.com/friction-detector/friction-detector/blob/main/"
RULES = ROOT / "deploy" / "prometheus" / "alerting_rules.yml"


def test_alert_engine_runbooks_exist():
    settings = load_alert_settings(None)
    for rule in settings.rules:
        url = settings.runbook_url(rule)
        assert url.startswith(BASE)
        assert (ROOT / url.removeprefix(BASE)).is_file(), url


def test_prometheus_alert_runbooks_exist():
    if not RULES.is_file():
        pytest.skip("deploy/prometheus/alerting_rules.yml not written yet")
    urls = re.findall(r"runbook_url:\s*(\S+)", RULES.read_text())
    assert urls
    for url in urls:
        assert url.startswith(BASE), url
        assert (ROOT / url.removeprefix(BASE)).is_file(), url
