"""Every metric a rule or a dashboard queries is one the worker exports, and the reverse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from friction_detector.detectors.registry import installed_detectors
from friction_detector.streams.observability.metrics import FrictionMetrics
from promql_names import metric_names

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))

# The metric families the worker exports with every installed detector enabled (a detector's
# measurements are histograms), by name and type as prometheus_client's registry reports them:
# counters without their `_total`.
ALL_DETECTORS = [cls() for cls in installed_detectors().values()]
EXPORTED_METRICS = {
    f.name: f.type for f in FrictionMetrics(set(), detectors=ALL_DETECTORS).registry.collect()
}
PROMETHEUS_SERIES = {"up"}  # written by Prometheus itself for every target


def series_names(metrics: dict[str, str]) -> set[str]:
    """Names a query can use: counters end in _total; a histogram has _bucket, _sum, _count."""
    names = set()
    for name, kind in metrics.items():
        if kind == "counter":
            names.add(f"{name}_total")
        elif kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            names.add(name)
    return names


def recording_rules() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS / "recording_rules.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def recorded() -> set[str]:
    return {rule["record"] for rule in recording_rules()}


def rule_queries() -> Iterator[tuple[str, str]]:
    for name in ("recording_rules.yml", "alerting_rules.yml"):
        for group in yaml.safe_load((PROMETHEUS / name).read_text())["groups"]:
            for rule in group["rules"]:
                yield f"{name}: {rule.get('record') or rule.get('alert')}", rule["expr"]


def dashboard_queries() -> Iterator[tuple[str, str]]:
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                yield f"{path.name}: {panel['title']}", target["expr"]


ALLOWED = series_names(EXPORTED_METRICS) | PROMETHEUS_SERIES | recorded()


QUERIES = [*rule_queries(), *dashboard_queries()]


@pytest.mark.parametrize(("where", "expr"), QUERIES, ids=[where for where, _ in QUERIES])
def test_queries_use_only_exported_metrics_and_recording_rules(where, expr):
    names = metric_names(expr)
    assert names, f"{where}: no metric found in {expr!r}"
    unknown = names - ALLOWED
    assert not unknown, f"{where}: unknown metric(s) {sorted(unknown)} in {expr!r}"


def test_recording_rules_use_no_later_recording_rule():
    seen: set[str] = set()
    for rule in recording_rules():
        later = (metric_names(rule["expr"]) & recorded()) - seen
        assert not later, f"{rule['record']} reads {sorted(later)} before it is recorded"
        seen.add(rule["record"])


def test_every_exported_metric_is_on_a_dashboard():
    assert DASHBOARDS, "no dashboard JSON in deploy/grafana/dashboards/"
    on_dashboards: set[str] = set()
    for _, expr in dashboard_queries():
        on_dashboards |= metric_names(expr)
    # A recording rule on a dashboard shows the metrics it is computed from.
    for rule in recording_rules():
        if rule["record"] in on_dashboards:
            on_dashboards |= metric_names(rule["expr"])
    # The project's own metrics; process_* and python_* are prometheus_client's runtime ones.
    missing = {
        name
        for name, kind in EXPORTED_METRICS.items()
        if name.startswith("friction_") and not series_names({name: kind}) & on_dashboards
    }
    assert not missing, f"exported but on no dashboard: {sorted(missing)}"


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (detector, segment) (rate(friction_findings_total{kind="late"}[5m])) * 60',
            {"friction_findings_total"},
        ),
        (
            "histogram_quantile(0.75, sum by (le) (rate(x_bucket[$__rate_interval])))",
            {"x_bucket"},
        ),
        ("a / on (job) group_left (version) b offset 5m > bool 1e-05", {"a", "b"}),
        ('label_replace(rate(c[30m]), "queue", "$1", "segment", "(.*)") or d:e:f', {"c", "d:e:f"}),
        ("time() - max without (instance) (g) and vector(0) unless h", {"g", "h"}),
    ],
)
def test_metric_names_are_found_in_promql(expr, names):
    assert metric_names(expr) == names
