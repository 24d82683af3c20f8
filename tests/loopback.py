"""Servers the tests run on free loopback ports: one way to start them, wait for them, stop them.

Shared by tests/deploy and tests/integration (pytest puts tests/ on the path).
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

START_TIMEOUT_S = 30


def free_port() -> int:
    """A port the OS just handed out: no clash with a developer's own servers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, process: subprocess.Popen, what: str, log: Path) -> None:
    """Return once `url` answers; fail with the server's log if it exits or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what} did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)


@contextmanager
def loopback_server(command: list[str], ready_url: str, what: str, log: Path) -> Iterator[None]:
    """Run `command` (output to `log`) until the block ends, once `ready_url` answers."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_http(ready_url, process, what, log)
            yield
        finally:
            process.terminate()
            process.wait(timeout=10)


@contextmanager
def running_alertmanager(binary: str, config: Path, home: Path) -> Iterator[str]:
    """A single Alertmanager (no gossip) with `config`; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        binary,
        f"--config.file={config}",
        f"--storage.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip: a single instance
    ]
    with loopback_server(command, url + "/-/ready", "Alertmanager", home / "alertmanager.log"):
        yield url
