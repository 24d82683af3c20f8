"""Grafana: the committed dashboards are what the generator writes, and they are well formed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest
import yaml
from debian_tools import assert_ok, run

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_committed_dashboards_match_the_generator():
    if importlib.util.find_spec("grafana_foundation_sdk") is None:
        pytest.fail(
            "grafana-foundation-sdk is not installed: pip install -e '.[dev]'", pytrace=False
        )
    result = subprocess.run(
        [sys.executable, str(GRAFANA / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_dashboards_exist_with_distinct_uids():
    titles = {load(p)["title"]: load(p)["uid"] for p in DASHBOARDS}
    assert set(titles) == {"Friction overview", "Friction pipeline health"}
    assert len(set(titles.values())) == len(titles)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_goes_to_the_selected_prometheus(path):
    board = load(path)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in [panel, *panel["targets"]]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_have_unique_ids_and_do_not_overlap(path):
    panels = load(path)["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))

    def cells(panel: dict) -> set[tuple[int, int]]:
        x, y, w, h = (panel["gridPos"][k] for k in "xywh")
        assert x >= 0 and x + w <= 24, panel["title"]
        return {(col, row) for col in range(x, x + w) for row in range(y, y + h)}

    for a, b in combinations(panels, 2):
        assert not cells(a) & cells(b), f"{a['title']!r} overlaps {b['title']!r}"


def test_provisioning_points_at_prometheus_and_the_dashboards_folder():
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"

    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/friction.yml").read_text())
    (provider,) = providers["providers"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = dict(volume.split(":")[:2] for volume in compose["services"]["grafana"]["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"


# The variables' values at their default, All, and Grafana's own for a 1 h dashboard.
VARIABLES = {
    "$__rate_interval": "1m",
    "$__range": "1h",
    "$job": ".*",
    "$instance": ".*",
    "$detector": ".*",
}


def expressions(board: dict) -> list[str]:
    found = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in VARIABLES.items():
                expr = expr.replace(name, value)
            found.append(expr)
    return found


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_workers_are_chosen_by_variables_not_by_a_job_name(path, tmp_path: Path):
    board = load(path)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    for name in ("job", "instance", "detector"):
        assert variables[name]["type"] == "query"
        assert variables[name]["includeAll"] and variables[name]["allValue"] == ".*"
    text = path.read_text()
    assert "friction-worker" not in text
    assert "$job" in text and "$instance" in text
    # Every query, variables substituted, is PromQL that Prometheus parses.
    rules = [
        {"record": f"dashboard:query:{n}", "expr": e} for n, e in enumerate(expressions(board))
    ]
    rules_file = tmp_path / "queries.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}))
    assert_ok(run("promtool", "check", "rules", str(rules_file)))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_the_dashboards_link_each_other_and_the_runbooks(path):
    links = load(path)["links"]
    (dashboards,) = [link for link in links if link["type"] == "dashboards"]
    assert dashboards["tags"] == ["friction-detector"]
    assert all("friction-detector" in load(p)["tags"] for p in DASHBOARDS)
    (runbooks,) = [link for link in links if link["title"] == "Runbooks"]
    assert runbooks["url"].endswith("/docs/runbooks")
    assert (ROOT / "docs" / "runbooks").is_dir()


def test_every_measured_detector_has_its_latency_and_rate_on_the_overview():
    from importlib.metadata import entry_points

    board = load(GRAFANA / "dashboards" / "friction-overview.json")
    queries = expressions(board)
    measured = 0
    for entry in entry_points(group="friction.detectors"):
        if not entry.value.startswith("friction_detector.detectors.builtin."):
            continue
        for measurement in entry.load().measurements.values():
            measured += 1
            metric = measurement.metric
            assert any(
                metric in q and ("histogram_quantile" in q or ":p75_" in q) for q in queries
            ), f"no latency of {entry.name} ({metric})"
            assert any(f'detector="{entry.name}"' in q for q in queries), (
                f"no findings rate of {entry.name}"
            )
    assert measured >= 7
