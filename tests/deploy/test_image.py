"""The image's Dockerfile: hadolint finds nothing, both stages start from one base pinned by
digest, the build stage's Rust is Debian's at pinned versions and its wheel must carry the
compiled core, and every dependency comes from requirements.lock with its hash, a lock that
satisfies pyproject.toml."""

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


def stages() -> list[str]:
    """The Dockerfile's stages, each from its FROM line to the next."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())  # continued lines joined
    return ["FROM " + part for part in re.split(r"^FROM ", text, flags=re.M)[1:]]


def test_both_stages_start_from_one_base_pinned_by_digest():
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE.read_text(), re.M)
    assert len(bases) == 2 and bases[0] == bases[1], bases
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+@sha256:[0-9a-f]{64}", bases[0]), bases[0]


def test_the_build_stage_uses_debians_rust_at_pinned_versions_and_needs_the_core():
    build, image = stages()
    assert build.split("\n", 1)[0].endswith(" AS build")
    pinned = dict(re.findall(r"\b(cargo-web|rustc-web|libstd-rust-web-dev)=(\S+)", build))
    # rustc-web depends on libstd-rust-web-dev of its own version: apt needs all three pinned.
    assert set(pinned) == {"cargo-web", "rustc-web", "libstd-rust-web-dev"}
    assert len(set(pinned.values())) == 1, pinned
    assert 'python -c "import friction_detector.detectors._core"' in build
    assert "apt-get" not in image and "cargo" not in image  # no toolchain in the image


def test_dependencies_install_from_the_lock_with_hashes_and_the_package_alone():
    lock = "pip install --require-hashes --no-deps -r requirements.lock"
    wheel = "pip install --no-deps /wheels/friction_detector-*.whl"
    build, image = stages()
    assert re.findall(r"^RUN (pip \S+ .*?)\s*(?:&&|$)", build, re.M) == [
        lock,
        "pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .",
    ]
    assert re.findall(r"^RUN (pip \S+ .*?)\s*(?:&&|$)", image, re.M) == [lock, wheel]
    assert "COPY --from=build /wheels /wheels" in image


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
