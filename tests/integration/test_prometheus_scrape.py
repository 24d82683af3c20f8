"""A real Prometheus scrapes a process that runs the engine with our metrics.

The process runs known events through the detection core, the alert engine and
`FrictionMetrics`, serves /metrics and waits; Prometheus (scrape interval 1 s) must then report
the counts those events imply.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

BINARY = "prometheus"

# 3 slow checkout loads in 3 sessions, 2 fast ones, then a later page load that moves the
# watermark past them all: 6 page_load events, 3 slow_checkout findings, 1 alert firing.
EXPORTER = r"""
import sys, time
from detectors.alerts import AlertEngine, AlertRule, AlertSettings
from detectors.builtin.slow_checkout import SlowCheckout
from detectors.engine import Engine
from detectors.events import EventDecoder
from detectors.observer import FanOut
from detectors.schema import CONTRACT_TYPES
from streams.alert_sink import count_alert
from streams.metrics import FrictionMetrics

metrics = FrictionMetrics({"page_load"}, version="test")
rule = AlertRule(
    alertname="CheckoutSlowTest", detector="slow_checkout", condition="rate",
    threshold=0.2, resolve_below=0.1, window_s=600, for_s=0, resolve_after_s=600, min_count=3,
)
alerts = AlertEngine(AlertSettings(rules=(rule,)), sink=lambda a: count_alert(metrics, a))
engine = Engine([SlowCheckout()], observer=FanOut(metrics, alerts))
decoder = EventDecoder(CONTRACT_TYPES)
t0 = 1_795_305_600_000
loads = [("s-1", 5000), ("s-2", 6000), ("s-3", 4500), ("s-4", 800), ("s-5", 1200)]
for i, (session, duration) in enumerate(loads):
    event = {"event_id": f"e-{i}", "type": "page_load", "time": t0 + i * 1000,
             "session_id": session, "attrs": {"page": "/checkout/payment", "duration_ms": duration}}
    engine.process(decoder.from_object(event))
later = {"event_id": "e-9", "type": "page_load", "time": t0 + 300_000, "session_id": "s-9",
         "attrs": {"page": "/home", "duration_ms": 100}}
engine.process(decoder.from_object(later))
metrics.serve(int(sys.argv[1]), addr="127.0.0.1")
print("ready", flush=True)
time.sleep(600)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


@pytest.fixture(scope="module")
def exporter_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    home = tmp_path_factory.mktemp("exporter")
    port = free_port()
    log = open(home / "exporter.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-c", EXPORTER, str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_http(
            f"http://127.0.0.1:{port}/metrics", process, "the exporter", home / "exporter.log"
        )
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory, exporter_port: int) -> Iterator[str]:
    binary = shutil.which(BINARY)
    if binary is None:
        pytest.fail(f"{BINARY} not found: install the Debian package prometheus")
    home = tmp_path_factory.mktemp("prometheus")
    (home / "prometheus.yml").write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: friction-worker\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter_port}']\n"
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


def query(url: str, promql: str, timeout_s: float = 30) -> float:
    """The single value of an instant query, once Prometheus has one."""
    deadline = time.monotonic() + timeout_s
    address = url + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    while True:
        with urllib.request.urlopen(address, timeout=5) as response:
            result = orjson.loads(response.read())["data"]["result"]
        if result:
            assert len(result) == 1, result
            return float(result[0]["value"][1])
        if time.monotonic() > deadline:
            pytest.fail(f"Prometheus returned nothing for {promql} in {timeout_s} s")
        time.sleep(0.5)


def test_target_is_up(prometheus_url):
    assert query(prometheus_url, 'up{job="friction-worker"}') == 1


def test_findings_of_the_events_are_counted(prometheus_url):
    promql = 'sum(friction_findings_total{detector="slow_checkout"})'
    assert query(prometheus_url, promql) == 3


def test_events_are_counted_by_type(prometheus_url):
    assert query(prometheus_url, 'friction_events_total{type="page_load"}') == 6


def test_checkout_loads_are_a_histogram_by_page_group(prometheus_url):
    promql = 'friction_checkout_load_seconds_count{page_group="/checkout/payment"}'
    assert query(prometheus_url, promql) == 5


def test_alert_metrics_show_the_firing_alert(prometheus_url):
    promql = 'friction_alerts_firing{alertname="CheckoutSlowTest",segment="/checkout/payment"}'
    assert query(prometheus_url, promql) == 1
    total = 'friction_alerts_total{alertname="CheckoutSlowTest",status="firing"}'
    assert query(prometheus_url, total) == 1
