"""A real worker on the real broker answers /healthz, /ready and /metrics on one port: /ready
is 503 until its partitions are assigned and recovered, then 200."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers_worker import LATENESS_MS, Names, Worker, write_config
from loopback import free_port

pytestmark = pytest.mark.kafka


def status(url: str) -> int | None:
    """The HTTP status of `url`, None while nothing listens."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None


def test_a_worker_is_alive_then_ready_once_recovered_and_exports_process_metrics(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "friction.toml", LATENESS_MS)
    port = free_port()
    worker = Worker(kafka_bootstrap, config, Names("health"), tmp_path / "worker.log")
    worker.args += ["--metrics-port", str(port), "--metrics-addr", "127.0.0.1"]
    base = f"http://127.0.0.1:{port}"
    seen: list[int | None] = []
    try:
        worker.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and 200 not in seen:
            assert worker.alive(), worker.tail()
            seen.append(status(f"{base}/ready"))
            time.sleep(0.05)
        healthz = status(f"{base}/healthz")
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            metrics = response.read().decode()
    finally:
        worker.stop()

    answers = [code for code in seen if code is not None]
    assert answers and answers[0] == 503, worker.tail()
    assert answers[-1] == 200, worker.tail()
    assert b"Worker ready" in worker.log.read_bytes()
    assert healthz == 200
    assert "process_cpu_seconds_total" in metrics
    assert "python_gc_objects_collected_total" in metrics
    assert "friction_build_info" in metrics
