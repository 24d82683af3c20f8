"""Prometheus configuration and rules: promtool accepts them, and every rule is unit-tested."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from debian_tools import assert_ok, run
from promql_names import metric_names

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_FILES = [PROMETHEUS / "recording_rules.yml", PROMETHEUS / "alerting_rules.yml"]
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
RUNBOOK_BASE = "https://github.com/friction-detector/friction-detector/blob/main/docs/runbooks/"


def rules(path: Path) -> list[dict]:
    return [rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def alerting_rules() -> list[dict]:
    return rules(PROMETHEUS / "alerting_rules.yml")


def recording_rules() -> list[dict]:
    return rules(PROMETHEUS / "recording_rules.yml")


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def test_promtool_accepts_the_configuration():
    assert_ok(run("promtool", "check", "config", str(PROMETHEUS / "prometheus.yml")))


def test_promtool_accepts_the_rules():
    assert_ok(run("promtool", "check", "rules", *map(str, RULE_FILES)))


def test_promtool_rule_unit_tests_pass():
    assert RULE_TESTS, "no promtool tests in deploy/prometheus/tests/"
    assert_ok(run("promtool", "test", "rules", *map(str, RULE_TESTS), cwd=PROMETHEUS))


def test_the_configuration_loads_both_rule_files():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert sorted(PROMETHEUS / name for name in config["rule_files"]) == sorted(RULE_FILES)


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda r: r["alert"])
def test_every_alert_has_severity_summary_description_and_runbook(rule):
    assert rule["labels"]["severity"] in {"critical", "warning"}
    annotations = rule["annotations"]
    assert {"summary", "description", "runbook_url"} <= set(annotations)
    assert annotations["runbook_url"] == f"{RUNBOOK_BASE}{kebab(rule['alert'])}.md"


def test_prometheus_alerts_are_pipeline_health_only():
    # The alert engine owns the business alerts (per segment, in event time, as replay): a
    # second definition here would page twice with other thresholds. Alertmanager's inhibition
    # also mutes alerts that have a `detector` label while the pipeline is broken: a pipeline
    # alert with one would mute itself.
    groups = yaml.safe_load((PROMETHEUS / "alerting_rules.yml").read_text())["groups"]
    assert [group["name"] for group in groups] == ["friction-pipeline-alerts"]
    assert not any("detector" in r["labels"] for r in alerting_rules())


def _alert_cases() -> dict[str, set[str]]:
    """Alert name -> {"fires", "silent"}: the outcomes its promtool tests check."""
    cases: dict[str, set[str]] = {}
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                outcome = "fires" if case.get("exp_alerts") else "silent"
                cases.setdefault(case["alertname"], set()).add(outcome)
    return cases


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda r: r["alert"])
def test_every_alert_is_tested_firing_and_not_firing(rule):
    assert _alert_cases().get(rule["alert"], set()) == {"fires", "silent"}


@pytest.mark.parametrize("rule", recording_rules(), ids=lambda r: r["record"])
def test_every_recording_rule_is_tested(rule):
    tested = set()
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("promql_expr_test", []):
                tested |= metric_names(case["expr"])
    assert rule["record"] in tested
