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
