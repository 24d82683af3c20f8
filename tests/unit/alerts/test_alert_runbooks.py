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


CUSTOM_RULE = {
    "detector": "dead_click",
    "condition": "rate",
    "threshold": 5.0,
    "resolve_below": 2.0,
}


def test_a_custom_rule_without_a_runbook_links_the_generic_runbook_which_exists():
    settings = load_alert_settings({"rules": {"DeadClicksHigh": CUSTOM_RULE}})
    rule = next(r for r in settings.rules if r.alertname == "DeadClicksHigh")
    url = settings.runbook_url(rule)
    assert url == BASE + "docs/runbooks/friction-engine-alert.md"
    assert (ROOT / url.removeprefix(BASE)).is_file()


def test_a_custom_rule_with_its_own_runbook_name_keeps_it():
    rules = {"DeadClicksHigh": {**CUSTOM_RULE, "runbook": "dead-clicks"}}
    settings = load_alert_settings({"rules": rules})
    rule = next(r for r in settings.rules if r.alertname == "DeadClicksHigh")
    assert settings.runbook_url(rule) == BASE + "docs/runbooks/dead-clicks.md"


def test_the_runbook_base_url_setting_replaces_the_hosting_site():
    settings = load_alert_settings({"runbook_base_url": "https://wiki.example.org/runbooks/"})
    assert settings.runbook_url(settings.rules[0]) == (
        "https://wiki.example.org/runbooks/friction-checkout-slow-loads.md"
    )
