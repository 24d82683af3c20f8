"""Real-broker fixtures: one local Kafka for the whole session, on free ports."""

from __future__ import annotations

import shutil
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
from friction_detector.streams.devkit.local_kafka import LocalKafka
from loopback import free_port, loopback_server, running_alertmanager


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
    with running_alertmanager(binary, home / "alertmanager.yml", home) as url:
        yield url


# -- Prometheus (Debian package prometheus) ------------------------------------------------


@contextmanager
def running_prometheus(
    home: Path, ports: list[int], rule_files: Sequence[Path] = ()
) -> Iterator[str]:
    """A real Prometheus scraping 127.0.0.1:<port> every second, as job friction-worker
    of pipeline friction-detector,
    and evaluating `rule_files` (recording or alerting rules) every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not found: install the Debian package prometheus")
    targets = ", ".join(f"'127.0.0.1:{port}'" for port in ports)
    rules = "".join(f"  - '{path.resolve()}'\n" for path in rule_files)
    (home / "prometheus.yml").write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        + ("rule_files:\n" + rules if rules else "")
        + "scrape_configs:\n"
        "  - job_name: friction-worker\n"
        "    static_configs:\n"
        f"      - targets: [{targets}]\n"
        # The target label the rules and dashboards select workers by (docs/deploy.md).
        "        labels: {friction_pipeline: friction-detector}\n"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        binary,
        f"--config.file={home / 'prometheus.yml'}",
        f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with loopback_server(command, url + "/-/ready", "Prometheus", home / "prometheus.log"):
        yield url


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
