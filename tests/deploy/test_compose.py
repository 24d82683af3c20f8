"""docker-compose.yml and the Dockerfile: valid, and consistent with Prometheus's targets."""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from debian_tools import assert_ok, run

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
WORKERS = ("worker-1", "worker-2")


def services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_docker_compose_accepts_the_file():
    assert_ok(run("docker-compose", "-f", str(COMPOSE), "config", "-q"))


def test_docker_compose_plugin_accepts_the_file_where_installed():
    # Compose v2 is optional here (Debian ships v1); when it is there it must agree.
    docker = shutil.which("docker")
    if docker is None:
        return
    plugin = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if plugin.returncode != 0:
        return
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_stack_has_every_service():
    assert set(services()) == {
        "kafka",
        "worker-1",
        "worker-2",
        "simulator",
        "prometheus",
        "alertmanager",
        "grafana",
    }


def test_prometheus_scrapes_every_worker_on_its_metrics_port():
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "friction-worker"]
    targets = {t for static in job["static_configs"] for t in static["targets"]}
    all_services = services()
    expected = set()
    for name in WORKERS:
        worker = all_services[name]
        assert worker["command"][-1] == "worker"
        assert worker["environment"]["FRICTION_KAFKA_BROKER"].endswith("kafka:9092")
        expected.add(f"{name}:{worker['environment']['FRICTION_METRICS_PORT']}")
    assert targets == expected


def test_prometheus_and_alertmanager_mount_their_configuration():
    all_services = services()
    assert "./deploy/prometheus:/etc/prometheus:ro" in all_services["prometheus"]["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in all_services["prometheus"]["command"]
    assert "./deploy/alertmanager:/etc/alertmanager:ro" in all_services["alertmanager"]["volumes"]
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]


def dockerfile_sources() -> list[str]:
    sources = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and not line.startswith("COPY --from="):  # not a stage's
            sources += line.split()[1:-1]
    return sources


def test_the_dockerfile_copies_enough_to_build_the_package(tmp_path: Path):
    # Build a wheel from exactly what the Dockerfile copies: a package or a file it forgets
    # to copy fails here rather than in someone's `docker build`.
    context = tmp_path / "context"
    context.mkdir()
    for source in dockerfile_sources():
        matches = glob.glob(source, root_dir=ROOT)
        assert matches or "*" in source, f"COPY {source}: no such file"
        for match in matches:
            if (ROOT / match).is_dir():
                shutil.copytree(
                    ROOT / match,
                    context / match,
                    ignore=shutil.ignore_patterns("__pycache__"),
                )
            else:
                shutil.copy(ROOT / match, context / match)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(tmp_path.glob("friction_detector-*.whl"))


def test_the_image_runs_the_worker_on_python_3_11_slim():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11(\.\d+)?-slim\S*@sha256:[0-9a-f]{64}$", text, re.M)
    assert 'CMD ["friction", "worker"]' in text
