"""The [alerts] table: defaults, overrides by alertname, and errors that name the key."""

from __future__ import annotations

import pytest
from friction_detector.detectors.alerts import DEFAULT_RULES, AlertConfigError, load_alert_settings
from friction_detector.detectors.alerts.rules import runbook_name
from friction_detector.detectors.config import build_config

CONTRACT_DETECTORS = {
    "slow_checkout",
    "late_reset_email",
    "long_chat_wait",
    "repeated_form_submission",
}


def test_defaults_cover_the_four_contract_detectors():
    settings = load_alert_settings(None)
    assert {r.detector for r in settings.rules} == CONTRACT_DETECTORS
    assert settings.bucket_s == 60


def test_every_default_rule_has_a_runbook_file():
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    for rule in DEFAULT_RULES:
        path = root / "docs" / "runbooks" / f"{runbook_name(rule.alertname)}.md"
        assert path.is_file(), rule.alertname


def test_runbook_names_are_kebab_case_like_prometheus_rules():
    assert runbook_name("FrictionResetEmailsDelayed") == "friction-reset-emails-delayed"
    settings = load_alert_settings(None)
    assert settings.runbook_url(settings.rules[0]).endswith(
        "/docs/runbooks/friction-checkout-slow-loads.md"
    )


def test_a_table_overrides_keys_of_a_default_rule():
    settings = load_alert_settings(
        {"rules": {"FrictionResetEmailsDelayed": {"threshold": 0.5, "labels": {"team": "id"}}}}
    )
    rule = next(r for r in settings.rules if r.alertname == "FrictionResetEmailsDelayed")
    assert rule.threshold == 0.5
    assert rule.detector == "late_reset_email"
    assert rule.labels == {"team": "id"}


def test_a_default_rule_can_be_disabled():
    settings = load_alert_settings({"rules": {"FrictionCheckoutSlowLoads": {"enabled": False}}})
    assert "FrictionCheckoutSlowLoads" not in {r.alertname for r in settings.rules}


def test_a_new_rule_gets_resolve_below_half_its_threshold():
    settings = load_alert_settings(
        {
            "default_rules": False,
            "rules": {"Mine": {"detector": "x", "condition": "rate", "threshold": 2}},
        }
    )
    (rule,) = settings.rules
    assert rule.resolve_below == 1.0


def test_alerts_section_comes_through_the_config_file():
    config = build_config({"alerts": {"bucket_s": 30}})
    assert load_alert_settings(config.sections.get("alerts")).bucket_s == 30


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"bucket": 60}, "unknown key(s) bucket"),
        ({"bucket_s": 0}, "alerts.bucket_s must be an integer >= 1"),
        ({"rules": {"New": {"detector": "x"}}}, "needs condition, threshold"),
        ({"rules": {"FrictionChatWaitsLong": {"condition": "spike"}}}, "condition must be one"),
        ({"rules": {"FrictionChatWaitsLong": {"severity": "page"}}}, "severity must be one"),
        ({"rules": {"FrictionChatWaitsLong": {"resolve_below": 0.9}}}, "must not exceed"),
        ({"rules": {"FrictionChatWaitsLong": {"threshold": 2}}}, "is a fraction"),
        ({"rules": {"FrictionChatWaitsLong": {"window_s": 90}}}, "multiple of alerts.bucket_s"),
        ({"rules": {"FrictionChatWaitsLong": {"kinds": "late"}}}, "list of strings"),
        ({"rules": {"FrictionChatWaitsLong": {"windw_s": 60}}}, "unknown key(s) windw_s"),
        ({"rules": {"FrictionChatWaitsLong": {"labels": {"segment": "x"}}}}, "may set"),
        ({"rules": {"bad-name": {}}}, "letters, digits"),
    ],
)
def test_bad_tables_are_refused_with_the_key_named(table, message):
    with pytest.raises(AlertConfigError) as err:
        load_alert_settings(table, source="friction.toml")
    assert message in str(err.value)
    assert "friction.toml: alerts" in str(err.value)


def test_engine_wide_labels_are_read_from_the_alerts_table():
    settings = load_alert_settings({"labels": {"environment": "prod", "job": "friction-worker"}})
    assert settings.labels == {"environment": "prod", "job": "friction-worker"}
    assert load_alert_settings(None).labels == {}


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ("prod", "alerts.labels must be a table of strings"),
        ({"environment": 1}, "alerts.labels.environment must be a string"),
        ({"bad-name": "x"}, "alerts.labels.bad-name: not a label name"),
        ({"severity": "critical"}, "alerts.labels.severity: not a label name"),
        ({"environment": ""}, "alerts.labels.environment must not be empty"),
    ],
)
def test_bad_engine_wide_labels_are_refused_with_the_key_named(labels, message):
    with pytest.raises(AlertConfigError) as err:
        load_alert_settings({"labels": labels}, source="friction.toml")
    assert f"friction.toml: {message}" in str(err.value)
