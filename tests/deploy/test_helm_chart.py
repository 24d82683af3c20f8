"""The Helm chart: it lints, renders valid Kubernetes 1.30 objects with its defaults and with
every optional part on, and what it renders does what docs/deploy.md promises."""

from __future__ import annotations

import base64
import re
import tomllib
from functools import cache
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from built_tools import helm
from debian_tools import assert_ok, run
from friction_detector.detectors.alerts import load_alert_settings
from friction_detector.detectors.config import build_config
from friction_detector.streams.kafka.settings import input_group

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "friction-detector"
PROMETHEUS = ROOT / "deploy" / "prometheus"
KUBERNETES = "1.30.0"
# The custom resources of the optional parts; Kubernetes' schemas do not cover them.
CUSTOM = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("keda.sh/v1alpha1", "ScaledObject"),
}
EVERYTHING = {
    "metrics.serviceMonitor.enabled": "true",
    "metrics.prometheusRule.enabled": "true",
    "autoscaling.keda.enabled": "true",
    "kafka.sasl.mechanism": "SCRAM-SHA-512",
    "kafka.sasl.username": "friction",
    "kafka.sasl.password": "s3cret",
    "kafka.tls.enabled": "true",
    "kafka.tls.ca": "CA PEM",
    "kafka.tls.cert": "CERT PEM",
    "kafka.tls.key": "KEY PEM",
    "alertmanagerUrl": "http://alertmanager:9093",
    "webhook.secretName": "friction-webhook",
}


def render_result(values: dict[str, str] | None = None, check: bool = True):
    args = ["template", "friction", str(CHART), "--kube-version", KUBERNETES, "-n", "friction"]
    for key, value in (values or {}).items():
        args += ["--set-string" if key.endswith(("password", "ca", "cert", "key")) else "--set"]
        args += [f"{key}={value}"]
    return helm(*args, check=check)


@cache
def _render(items: tuple[tuple[str, str], ...]) -> tuple[dict, ...]:
    return tuple(d for d in yaml.safe_load_all(render_result(dict(items)).stdout) if d)


def render(values: dict[str, str] | None = None) -> list[dict]:
    return list(_render(tuple(sorted((values or {}).items()))))


def by_kind(documents: list[dict]) -> dict[str, dict]:
    kinds = {}
    for document in documents:
        assert document["kind"] not in kinds, f"two {document['kind']} objects"
        kinds[document["kind"]] = document
    return kinds


def container(documents: list[dict]) -> dict:
    (worker,) = by_kind(documents)["Deployment"]["spec"]["template"]["spec"]["containers"]
    return worker


def env(documents: list[dict]) -> dict[str, dict]:
    return {e["name"]: e for e in container(documents)["env"]}


def test_helm_lint_passes_with_defaults_and_with_everything_on():
    helm("lint", "--strict", str(CHART))
    sets = ",".join(f"{k}={v}" for k, v in EVERYTHING.items())
    helm("lint", "--strict", str(CHART), "--set", sets)


@pytest.mark.parametrize("values", [{}, EVERYTHING], ids=["defaults", "everything"])
def test_every_rendered_object_is_valid_for_kubernetes_1_30(values):
    documents = render(values)
    assert documents
    for document in documents:
        key = (document["apiVersion"], document["kind"])
        if key in CUSTOM:
            continue
        kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_defaults_render_the_core_objects_and_everything_adds_the_optional_ones():
    core = {"ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"}
    assert set(by_kind(render())) == core
    optional = {"Secret", "ServiceMonitor", "PrometheusRule", "ScaledObject"}
    assert set(by_kind(render(EVERYTHING))) == core | optional
    for document in render(EVERYTHING):
        if document["kind"] in {kind for _, kind in CUSTOM}:
            assert (document["apiVersion"], document["kind"]) in CUSTOM


def test_probes_ask_healthz_and_ready_on_the_metrics_port():
    worker = container(render())
    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert worker["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "metrics"}
    assert int(env(render())["FRICTION_METRICS_PORT"]["value"]) == ports["metrics"]


def test_the_worker_runs_as_the_images_user_on_a_read_only_root():
    kinds = by_kind(render())
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    uid = re.search(r"useradd .*--uid (\d+)", (ROOT / "Dockerfile").read_text()).group(1)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == int(uid)
    security = container(render())["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    # Everything the worker writes is on a volume.
    mounts = {m["mountPath"] for m in container(render())["volumeMounts"]}
    assert {"/var/lib/friction", "/tmp"} <= mounts
    assert env(render())["FRICTION_DATA_DIR"]["value"].startswith("/var/lib/friction/")


def test_the_configuration_is_a_mounted_file_and_never_environment():
    kinds = by_kind(render())
    worker = container(render())
    assert "envFrom" not in worker
    command = worker["command"]
    path = command[command.index("--config") + 1]
    (mount,) = [m for m in worker["volumeMounts"] if m["mountPath"] == str(Path(path).parent)]
    volumes = {v["name"]: v for v in kinds["Deployment"]["spec"]["template"]["spec"]["volumes"]}
    config_map = volumes[mount["name"]]["configMap"]
    assert config_map["name"] == kinds["ConfigMap"]["metadata"]["name"]
    assert config_map["items"] == [{"key": "friction.toml", "path": Path(path).name}]


def test_the_configuration_loads_and_labels_alerts_as_prometheus_labels_the_pipeline():
    text = by_kind(render({"pipeline": "checkout-eu", "environment": "staging"}))["ConfigMap"]
    config = tomllib.loads(text["data"]["friction.toml"])
    assert build_config(config, source="chart friction.toml").detectors
    settings = load_alert_settings(config["alerts"])
    assert settings.labels == {"environment": "staging", "friction_pipeline": "checkout-eu"}


def test_a_configuration_change_rolls_the_pods():
    def checksum(values: dict[str, str]) -> str:
        deployment = by_kind(render(values))["Deployment"]
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum({}) == checksum({})
    assert checksum({}) != checksum({"config": "[engine]\nallowed_lateness_ms = 60000\n"})
    assert checksum({}) != checksum({"pipeline": "other"})


def test_the_sasl_password_and_tls_files_come_from_the_secret():
    documents = render(EVERYTHING)
    secret = by_kind(documents)["Secret"]
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == {
        "sasl-password": "s3cret",
        "ca.crt": "CA PEM",
        "tls.crt": "CERT PEM",
        "tls.key": "KEY PEM",
    }
    variables = env(documents)
    reference = variables["FRICTION_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert reference == {"name": secret["metadata"]["name"], "key": "sasl-password"}
    assert "s3cret" not in yaml.safe_dump(by_kind(documents)["Deployment"])

    pod = by_kind(documents)["Deployment"]["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    (mount,) = [m for m in container(documents)["volumeMounts"] if m["name"] == volume["name"]]
    for name, key in [
        ("FRICTION_KAFKA_SSL_CAFILE", "ca.crt"),
        ("FRICTION_KAFKA_SSL_CERTFILE", "tls.crt"),
        ("FRICTION_KAFKA_SSL_KEYFILE", "tls.key"),
    ]:
        assert variables[name]["value"] == f"{mount['mountPath']}/{key}"
    annotations = by_kind(documents)["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/secret" in annotations


def test_the_webhook_secret_comes_from_the_sites_secret_under_the_configured_variable():
    assert "FRICTION_WEBHOOK_SECRET" not in env(render())
    variable = env(render({"webhook.secretName": "hooks", "webhook.secretKey": "signing"}))[
        "FRICTION_WEBHOOK_SECRET"
    ]
    assert variable == {
        "name": "FRICTION_WEBHOOK_SECRET",
        "valueFrom": {"secretKeyRef": {"name": "hooks", "key": "signing"}},
    }


def test_an_existing_secret_replaces_the_charts():
    values = {
        "kafka.sasl.mechanism": "PLAIN",
        "kafka.sasl.username": "friction",
        "kafka.tls.enabled": "true",
        "kafka.existingSecret": "kafka-credentials",
    }
    documents = render(values)
    assert "Secret" not in by_kind(documents)
    variables = env(documents)
    assert variables["FRICTION_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "kafka-credentials",
        "key": "sasl-password",
    }
    assert "FRICTION_KAFKA_SSL_CERTFILE" not in variables  # not mutual unless told so
    pod = by_kind(documents)["Deployment"]["spec"]["template"]["spec"]
    assert {"name": "tls", "secret": {"secretName": "kafka-credentials", "defaultMode": 0o400}} in (
        pod["volumes"]
    )


def test_sasl_without_a_password_or_a_secret_is_refused():
    result = render_result(
        {"kafka.sasl.mechanism": "PLAIN", "kafka.sasl.username": "friction"}, check=False
    )
    assert result.returncode != 0
    assert "kafka.sasl.password (or kafka.existingSecret) is required" in result.stderr


def test_the_disruption_budget_and_the_service_select_the_workers():
    kinds = by_kind(render())
    pod_labels = kinds["Deployment"]["spec"]["template"]["metadata"]["labels"]
    budget = kinds["PodDisruptionBudget"]["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()
    assert kinds["Service"]["spec"]["selector"].items() <= pod_labels.items()
    (port,) = kinds["Service"]["spec"]["ports"]
    assert port["targetPort"] == "metrics"
    assert kinds["Deployment"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_every_scrape_path_carries_the_pipeline_label():
    # Annotations: a labelmap of the pod's or Service's labels gives friction_pipeline.
    kinds = by_kind(render(EVERYTHING))
    pod_labels = kinds["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["friction_pipeline"] == "friction-detector"
    assert kinds["Service"]["metadata"]["labels"]["friction_pipeline"] == "friction-detector"
    assert kinds["Service"]["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    # ServiceMonitor: a relabeling sets it.
    monitor = kinds["ServiceMonitor"]["spec"]
    service_labels = kinds["Service"]["metadata"]["labels"]
    assert monitor["selector"]["matchLabels"].items() <= service_labels.items()
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] == kinds["Service"]["spec"]["ports"][0]["name"]
    assert {
        "action": "replace",
        "targetLabel": "friction_pipeline",
        "replacement": "friction-detector",
    } in endpoint["relabelings"]


def test_the_prometheus_rule_holds_the_same_rules_as_deploy_prometheus(tmp_path: Path):
    rule = by_kind(render(EVERYTHING))["PrometheusRule"]
    expected = []
    for name in ("recording_rules.yml", "alerting_rules.yml"):
        expected += yaml.safe_load((PROMETHEUS / name).read_text())["groups"]
    assert rule["spec"]["groups"] == expected
    rendered = tmp_path / "rules.yml"
    rendered.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    assert_ok(run("promtool", "check", "rules", str(rendered)))


def test_keda_scales_on_the_groups_lag_within_the_routed_partitions():
    kinds = by_kind(render(EVERYTHING))
    assert "replicas" not in kinds["Deployment"]["spec"]  # KEDA's to set
    scaled = kinds["ScaledObject"]["spec"]
    assert scaled["scaleTargetRef"]["name"] == kinds["Deployment"]["metadata"]["name"]
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
    partitions = int(env(render(EVERYTHING))["FRICTION_TOPIC_PARTITIONS"]["value"])
    assert scaled["maxReplicaCount"] <= partitions
    app_id = env(render(EVERYTHING))["FRICTION_APP_ID"]["value"]
    triggers = scaled["triggers"]
    assert [t["metadata"]["consumerGroup"] for t in triggers] == [input_group(app_id), app_id]
    for trigger in triggers:
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["bootstrapServers"] == "kafka:9092"
        assert trigger["metadata"]["allowIdleConsumers"] == "false"


def test_keda_bootstrap_servers_drop_the_url_scheme():
    values = {**EVERYTHING, "kafka.broker": "kafka://k1:9093;kafka://k2:9093"}
    triggers = by_kind(render(values))["ScaledObject"]["spec"]["triggers"]
    assert {t["metadata"]["bootstrapServers"] for t in triggers} == {"k1:9093,k2:9093"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"autoscaling.keda.maxReplicas": "5"}, "exceeds kafka.topicPartitions (4)"),
        ({"autoscaling.keda.minReplicas": "0"}, "minReplicas must be at least 1"),
    ],
)
def test_keda_bounds_outside_the_partitions_are_refused(values, message):
    result = render_result({"autoscaling.keda.enabled": "true", **values}, check=False)
    assert result.returncode != 0
    assert message in result.stderr
    more = {"autoscaling.keda.enabled": "true", "kafka.topicPartitions": "8"}
    scaled = by_kind(render({**more, "autoscaling.keda.maxReplicas": "8"}))["ScaledObject"]
    assert scaled["spec"]["maxReplicaCount"] == 8


def test_without_keda_the_deployment_sets_its_replicas():
    assert by_kind(render({"replicaCount": "3"}))["Deployment"]["spec"]["replicas"] == 3


def test_a_digest_pins_the_image():
    digest = "sha256:" + "a" * 64
    image = container(render({"image.digest": digest}))["image"]
    assert image == f"ghcr.io/friction-detector/friction-detector@{digest}"
    assert container(render())["image"].endswith(":0.1.0")
