"""The Debian-packaged tools that check the deploy files; a missing tool fails, never skips."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

# Tool -> the Debian package that installs it (scripts/setup installs them all).
PACKAGES = {
    "promtool": "prometheus",
    "amtool": "prometheus-alertmanager",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "docker-compose": "docker-compose",
}


def tool(name: str) -> str:
    """The path of `name`, or a failed test that says which package to install."""
    path = shutil.which(name)
    if path is None:
        package = PACKAGES[name]
        pytest.fail(
            f"{name} is not installed: install Debian's `{package}` package "
            f"(apt-get install {package}, or run scripts/setup)",
            pytrace=False,
        )
    return path


def run(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool(name), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    command = " ".join(str(a) for a in result.args)
    assert result.returncode == 0, (
        f"{command} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
