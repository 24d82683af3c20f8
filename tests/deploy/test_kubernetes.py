"""The Kubernetes manifests parse, fit together, and carry a detector configuration that loads."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from friction_detector.detectors.config import build_config

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))


def objects() -> dict[str, dict]:
    found = {}
    for path in MANIFESTS:
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                assert {"apiVersion", "kind", "metadata"} <= set(document), path
                found[document["kind"]] = document
    return found


def test_there_is_a_deployment_a_service_and_a_config_map():
    assert MANIFESTS
    kinds = objects()
    assert set(kinds) == {"ConfigMap", "Deployment", "Service"}
    assert kinds["Deployment"]["apiVersion"] == "apps/v1"
    assert kinds["Service"]["apiVersion"] == kinds["ConfigMap"]["apiVersion"] == "v1"


def test_the_deployment_selects_its_pods_and_the_service_reaches_their_metrics_port():
    kinds = objects()
    spec = kinds["Deployment"]["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= pod_labels.items()
    assert kinds["Service"]["spec"]["selector"].items() <= pod_labels.items()

    (container,) = spec["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    (service_port,) = kinds["Service"]["spec"]["ports"]
    assert service_port["targetPort"] in ports
    assert container["readinessProbe"]["httpGet"]["port"] in ports
    env = kinds["ConfigMap"]["data"]
    assert int(env["FRICTION_METRICS_PORT"]) == ports["metrics"] == service_port["port"]


def test_liveness_asks_whether_the_event_loop_turns_and_readiness_whether_it_is_ready():
    (container,) = objects()["Deployment"]["spec"]["template"]["spec"]["containers"]
    liveness = container["livenessProbe"]["httpGet"]
    readiness = container["readinessProbe"]["httpGet"]

    assert (liveness["path"], liveness["port"]) == ("/healthz", "metrics")
    assert (readiness["path"], readiness["port"]) == ("/ready", "metrics")


def test_the_worker_reads_the_mounted_configuration():
    kinds = objects()
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    config_map = kinds["ConfigMap"]["metadata"]["name"]
    assert {"configMapRef": {"name": config_map}} in container["envFrom"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "config"]
    assert volumes["config"]["configMap"]["name"] == config_map
    (item,) = volumes["config"]["configMap"]["items"]
    path = f"{mount['mountPath']}/{item['path']}"
    command = container["command"]
    assert command[0] == "friction" and command[-1] == "worker"
    assert command[command.index("--config") + 1] == path


def test_the_detector_configuration_is_valid():
    text = objects()["ConfigMap"]["data"]["friction.toml"]
    config = build_config(tomllib.loads(text), source="ConfigMap friction.toml")
    assert config.detectors
