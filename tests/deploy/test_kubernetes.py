"""deploy/kubernetes/worker.yaml is the chart rendered with its defaults (one source), and each
of its objects is valid for Kubernetes 1.30."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import kubernetes_validate
import yaml
from built_tools import HELM, helm

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "kubernetes" / "worker.yaml"


def test_the_manifest_is_the_chart_rendered_with_its_defaults(tmp_path: Path):
    helm("version")  # fails clearly when helm is not built
    copy = tmp_path / "deploy" / "kubernetes"
    copy.mkdir(parents=True)
    (tmp_path / "deploy" / "helm").symlink_to(ROOT / "deploy" / "helm")
    (tmp_path / "deploy" / "prometheus").symlink_to(ROOT / "deploy" / "prometheus")
    script = copy / "render"
    script.write_bytes((ROOT / "deploy" / "kubernetes" / "render").read_bytes())
    script.chmod(0o755)
    env = {**os.environ, "HELM": str(HELM)}
    subprocess.run([str(script)], env=env, check=True, timeout=120)
    assert (copy / "worker.yaml").read_text() == MANIFEST.read_text(), (
        "deploy/kubernetes/worker.yaml is out of date: run deploy/kubernetes/render"
    )


def test_every_object_is_valid_for_kubernetes_1_30():
    documents = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    assert {d["kind"] for d in documents} >= {"ConfigMap", "Deployment", "Service"}
    for document in documents:
        kubernetes_validate.validate(document, "1.30.0", strict=True)
