"""A real worker's log is for a person: no terminal escape codes in a file, no ERROR for a
normal start, and with `--log-format json` one JSON object per line."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
from helpers_worker import LATENESS_MS, Names, Worker, write_config
from loopback import free_port

pytestmark = pytest.mark.kafka


def run_until_ready(worker: Worker, port: int) -> bytes:
    """Start `worker`, stop it once /ready answers 200, and return its log."""
    try:
        worker.start()
        deadline = time.monotonic() + 90
        while True:
            assert worker.alive(), worker.tail()
            assert time.monotonic() < deadline, f"never ready:\n{worker.tail()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
        time.sleep(1)
    finally:
        worker.stop()
    return worker.log.read_bytes()


def worker_on(
    kafka_bootstrap: str, tmp_path: Path, label: str, *options: str
) -> tuple[Worker, int]:
    config = write_config(tmp_path / "friction.toml", LATENESS_MS)
    port = free_port()
    worker = Worker(kafka_bootstrap, config, Names(label), tmp_path / f"{label}.log")
    worker.args += ["--metrics-port", str(port), "--metrics-addr", "127.0.0.1", *options]
    return worker, port


def test_a_worker_logging_to_a_file_writes_no_escape_codes_and_no_error_for_its_start(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    worker, port = worker_on(kafka_bootstrap, tmp_path, "plain", "--log-level", "WARN")

    log = run_until_ready(worker, port)

    assert b"\x1b[" not in log, log
    start_errors = [
        line for line in log.splitlines()
        if b"ERROR" in line and b"GroupCoordinatorNotAvailable" in line
    ]  # fmt: skip
    assert start_errors == []
    assert b"event loop uvloop)" in log  # the default where uvloop is installed


def test_a_worker_on_the_standard_event_loop_gets_ready_and_says_so(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    worker, port = worker_on(kafka_bootstrap, tmp_path, "asyncio", "--event-loop", "asyncio")

    log = run_until_ready(worker, port)

    assert b"event loop asyncio)" in log, log[-2000:]


def test_json_logs_are_one_object_per_line_with_time_level_logger_and_message(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    worker, port = worker_on(
        kafka_bootstrap, tmp_path, "json", "--log-level", "INFO", "--log-format", "json"
    )

    log = run_until_ready(worker, port)

    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert records
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["message"].endswith("Worker ready") for r in records)
    assert b"\x1b[" not in log
