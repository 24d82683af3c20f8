"""Real-broker fixtures: one local Kafka for the whole session, on free ports."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from streams.local_kafka import LocalKafka


def free_port() -> int:
    """A port the OS just handed out: no clash with a developer's own broker."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_broker(home: Path) -> LocalKafka:
    broker = LocalKafka(home, port=free_port(), controller_port=free_port())
    broker.up(timeout=90)
    return broker


@pytest.fixture(scope="session")
def local_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = start_broker(tmp_path_factory.mktemp("kafka"))
    try:
        yield broker
    finally:
        broker.down()


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker of the test's own, for tests that stop or break it."""
    broker = start_broker(tmp_path)
    try:
        yield broker
    finally:
        broker.down()


@pytest.fixture(scope="session")
def kafka_bootstrap(local_kafka: LocalKafka) -> str:
    """``host:port`` of a running broker that auto-creates topics of 4 partitions."""
    return local_kafka.bootstrap


# -- Alertmanager (Debian package prometheus-alertmanager) ----------------------------------

BINARY = "prometheus-alertmanager"
CONFIG = """\
route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: blackhole
"""


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return orjson.loads(response.read())


@pytest.fixture(scope="session")
def alertmanager_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which(BINARY)
    if binary is None:
        pytest.fail(f"{BINARY} not found: install the Debian package prometheus-alertmanager")
    home: Path = tmp_path_factory.mktemp("alertmanager")
    (home / "alertmanager.yml").write_text(CONFIG)
    port = free_port()
    log = open(home / "alertmanager.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={home / 'alertmanager.yml'}",
            f"--storage.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/-/ready", timeout=1).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        "Alertmanager did not start:\n" + (home / "alertmanager.log").read_text()
                    )
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


# -- Prometheus (Debian package prometheus) ------------------------------------------------


def wait_http(url: str, process: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what} did not start:\n{log.read_text()}")
            time.sleep(0.2)


@contextmanager
def running_prometheus(home: Path, ports: list[int]) -> Iterator[str]:
    """A real Prometheus scraping 127.0.0.1:<port> every second, as job friction-worker."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not found: install the Debian package prometheus")
    targets = ", ".join(f"'127.0.0.1:{port}'" for port in ports)
    (home / "prometheus.yml").write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: friction-worker\n"
        "    static_configs:\n"
        f"      - targets: [{targets}]\n"
    )
    port = free_port()
    log = open(home / "prometheus.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/-/ready", process, "Prometheus", home / "prometheus.log")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def query_series(url: str, promql: str) -> list[dict]:
    address = url + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(address, timeout=5) as response:
        return orjson.loads(response.read())["data"]["result"]


def query(url: str, promql: str, timeout_s: float = 30) -> float:
    """The single value of an instant query, once Prometheus has one."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = query_series(url, promql)
        if result:
            assert len(result) == 1, result
            return float(result[0]["value"][1])
        if time.monotonic() > deadline:
            pytest.fail(f"Prometheus returned nothing for {promql} in {timeout_s} s")
        time.sleep(0.5)
