"""Stage 1 in a process of its own, on the real broker: its counts reach the worker's one
/metrics, and neither process outlives the other (streams/worker/input_process.py)."""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from helpers_worker import LATENESS_MS, Names, Worker, now_ms, produce, write_config
from kafka import KafkaAdminClient
from loopback import free_port

pytestmark = pytest.mark.kafka

STAGE_ONE = re.compile(rb"stage 1 in process (\d+)")
STOP_S = 30


def start_worker(bootstrap: str, tmp_path: Path, label: str) -> tuple[Worker, int, str]:
    """A ready worker, the pid of its stage 1 process, and its /metrics URL."""
    config = write_config(tmp_path / "friction.toml", LATENESS_MS)
    port = free_port()
    worker = Worker(bootstrap, config, Names(label), tmp_path / "worker.log")
    worker.args += ["--metrics-port", str(port), "--metrics-addr", "127.0.0.1"]
    worker.start()
    worker.wait_ready()
    found = STAGE_ONE.search(worker.log.read_bytes())
    assert found, worker.tail()
    return worker, int(found.group(1)), f"http://127.0.0.1:{port}/metrics"


def parent_of(pid: int) -> int:
    """The parent pid of a live process (Linux)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


def running(pid: int) -> bool:
    """Whether `pid` runs (a zombie has ended: its parent has not reaped it yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def sample(url: str, line_start: str) -> float:
    """The sum of the exposition lines of `url` that start with `line_start`."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)
    )


def test_stage_one_runs_in_a_child_whose_counts_reach_the_workers_metrics(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    worker, child, url = start_worker(kafka_bootstrap, tmp_path, "child-metrics")
    try:
        assert parent_of(child) == worker.proc.pid
        base = now_ms()
        events = [
            {"event_id": f"m-{i}", "type": "page_view", "time": base + i, "session_id": f"s-{i}",
             "attrs": {"page": "/home"}}
            for i in range(30)
        ]  # fmt: skip
        values = [orjson.dumps(e) for e in events] + [b"{not json"] * 3
        produce(kafka_bootstrap, worker.args[worker.args.index("--input-topic") + 1], values,
                [None] * len(values))  # fmt: skip
        counted = wait_until(
            lambda: (
                sample(url, "friction_events_total{") == 30
                and sample(url, 'friction_bad_input_total{reason="invalid_json"}') == 3
            ),
            30,
        )
        assert counted, (sample(url, "friction_events_total"), worker.tail())
        # Only stage 1 reads the input: its lag and commit times come from the child.
        assert sample(url, "friction_commit_latency_seconds_count") > 0
        assert sample(url, "friction_consumer_lag_messages{partition=") == 0
    finally:
        worker.stop()
    assert not running(child)


def test_a_killed_stage_one_process_stops_the_worker_with_an_error(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    worker, child, _ = start_worker(kafka_bootstrap, tmp_path, "child-killed")
    try:
        os.kill(child, signal.SIGKILL)
        assert wait_until(lambda: not worker.alive(), STOP_S), worker.tail()
    finally:
        worker.stop()
    assert worker.proc.returncode != 0
    assert b"stage 1's process" in worker.log.read_bytes()
    assert b"killed by signal 9" in worker.log.read_bytes()


def test_a_killed_worker_takes_its_stage_one_process_along(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    worker, child, _ = start_worker(kafka_bootstrap, tmp_path, "parent-killed")
    group = worker.args[worker.args.index("--app-id") + 1] + "-input"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        worker.kill()
        assert wait_until(lambda: not running(child), STOP_S), worker.tail()
        # It left its group rather than hold the input partitions for a session timeout.
        members = admin.describe_groups([group]).get(group, {}).get("members")
        assert not members, members
    finally:
        admin.close()
        worker.stop()


def test_a_stopped_worker_stops_its_stage_one_process_and_exits_cleanly(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    worker, child, _ = start_worker(kafka_bootstrap, tmp_path, "child-stopped")
    worker.proc.send_signal(signal.SIGTERM)
    worker.proc.wait(STOP_S)
    worker.stop()
    assert worker.proc.returncode == 0, worker.tail()
    assert not running(child)


def test_a_stage_one_process_stopped_on_its_own_stops_the_worker_cleanly(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    worker, child, _ = start_worker(kafka_bootstrap, tmp_path, "child-terminated")
    os.kill(child, signal.SIGTERM)
    try:
        worker.proc.wait(STOP_S)
    finally:
        worker.stop()
    assert worker.proc.returncode == 0, worker.tail()
    assert b"stopped: the worker stops too" in worker.log.read_bytes()


def test_a_stuck_stage_one_process_makes_the_worker_unhealthy_until_it_turns_again(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    worker, child, url = start_worker(kafka_bootstrap, tmp_path, "child-stuck")
    healthz = url.replace("/metrics", "/healthz")
    try:
        assert health(healthz) == (200, "ok\n")
        os.kill(child, signal.SIGSTOP)  # its loop no longer turns, as if stuck
        try:
            assert wait_until(lambda: health(healthz)[0] == 503, STOP_S), worker.tail()
            assert health(healthz)[1].startswith("stage 1's event loop stalled")
        finally:
            os.kill(child, signal.SIGCONT)
        assert wait_until(lambda: health(healthz)[0] == 200, STOP_S), worker.tail()
    finally:
        worker.stop()


def health(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
