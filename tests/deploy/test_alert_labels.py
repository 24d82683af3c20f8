"""Every alert says where it comes from alike: Prometheus's external labels and pipeline label, and
the `[alerts] labels` of the workers it scrapes, so Alertmanager's inhibitions stay in their
environment and pipeline."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml
from friction_detector.detectors.alerts import load_alert_settings

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
ALERTMANAGER = yaml.safe_load((ROOT / "deploy/alertmanager/alertmanager.yml").read_text())


def prometheus_labels() -> dict[str, str]:
    """The labels Prometheus puts on every pipeline alert about the workers: its external
    labels and the target label friction_pipeline (the job name is not one: it differs between
    a static config, annotations and a ServiceMonitor)."""
    (job,) = [j for j in PROMETHEUS["scrape_configs"] if "friction" in j["job_name"]]
    (static,) = job["static_configs"]
    return {
        **PROMETHEUS["global"]["external_labels"],
        "friction_pipeline": static["labels"]["friction_pipeline"],
    }


def kubernetes_config() -> dict:
    # The chart's defaults, rendered (tests/deploy/test_kubernetes.py keeps it current).
    for document in yaml.safe_load_all((ROOT / "deploy/kubernetes/worker.yaml").read_text()):
        if document and document["kind"] == "ConfigMap":
            return tomllib.loads(document["data"]["friction.toml"])
    raise AssertionError("no ConfigMap")


def compose_config() -> dict:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in ("worker-1", "worker-2"):
        service = compose["services"][name]
        assert service["command"] == [
            "friction",
            "--config",
            "/etc/friction/friction.toml",
            "worker",
        ]
        assert "./deploy/worker:/etc/friction:ro" in service["volumes"]
    return tomllib.loads((ROOT / "deploy/worker/friction.toml").read_text())


def test_the_inhibitions_of_a_broken_pipeline_keep_to_its_environment_and_pipeline():
    (rule,) = [
        r for r in ALERTMANAGER["inhibit_rules"] if "FrictionWorkerDown" in r["source_matchers"][0]
    ]
    assert set(rule["equal"]) == set(prometheus_labels())


@pytest.mark.parametrize("config", [kubernetes_config, compose_config], ids=lambda f: f.__name__)
def test_the_workers_alerts_carry_the_labels_prometheus_gives_its_own(config):
    settings = load_alert_settings(config().get("alerts"))
    assert settings.labels == prometheus_labels()
