"""The image's Dockerfile: hadolint finds nothing, the base is pinned by digest, and every
dependency comes from requirements.lock with its hash, a lock that satisfies pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from built_tools import hadolint
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"


def locked() -> dict[str, str]:
    """Package name (normalized) -> locked version; asserts every pin carries hashes."""
    pins = {}
    text = LOCK.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})+)", line)
        assert match, f"requirements.lock: not a hashed pin: {line[:80]}"
        pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def test_hadolint_finds_nothing_in_the_dockerfile():
    result = hadolint("--no-color", str(DOCKERFILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_find_an_unpinned_install(tmp_path: Path):
    # The linter runs here and reports: a Dockerfile with the mistakes this one avoids fails.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nRUN pip install faust-streaming\n")
    result = hadolint("--no-color", str(bad))
    assert result.returncode != 0
    assert "DL3013" in result.stdout


def test_the_base_image_is_pinned_by_digest():
    (base,) = re.findall(r"^FROM (\S+)", DOCKERFILE.read_text(), re.M)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+@sha256:[0-9a-f]{64}", base), base


def test_dependencies_install_from_the_lock_with_hashes_and_the_package_alone():
    installs = re.findall(r"^RUN (pip install .*)$", DOCKERFILE.read_text(), re.M)
    assert installs[0] == "pip install --require-hashes --no-deps -r requirements.lock"
    assert installs[1].startswith("pip install --no-deps --no-build-isolation . ")
    assert len(installs) == 2


def test_the_lock_satisfies_the_runtime_dependencies_and_the_build_backend():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = pyproject["project"]
    wanted = [
        *project["dependencies"],
        *project["optional-dependencies"]["rocksdb"],
        *pyproject["build-system"]["requires"],
    ]
    pins = locked()
    for text in wanted:
        requirement = Requirement(text)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pins, f"{name} is not in requirements.lock: run scripts/lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock has {name}=={pins[name]}, pyproject.toml wants {text}: "
            "run scripts/lock"
        )
    # Runtime only: no test or lint tool in the image.
    assert not {"pytest", "ruff", "mypy", "hypothesis"} & set(pins)
