"""A real Prometheus scrapes a process that runs the engine with our metrics.

The process runs known events through the detection core, the alert engine and
`FrictionMetrics`, serves /metrics and waits; Prometheus (scrape interval 1 s) must then report
the counts those events imply.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from conftest import query, running_prometheus
from loopback import free_port, wait_http

# 3 slow checkout loads in 3 sessions, 2 fast ones, then a later page load that moves the
# watermark past them all: 6 page_load events, 3 slow_checkout findings, 1 alert firing.
EXPORTER = r"""
import sys, time
from friction_detector.detectors.alerts import AlertEngine, AlertRule, AlertSettings
from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.events import EventDecoder
from friction_detector.detectors.observer import FanOut
from friction_detector.detectors.schema import CONTRACT_TYPES
from friction_detector.streams.cli.alert_sink import count_alert
from friction_detector.streams.observability.metrics import FrictionMetrics

metrics = FrictionMetrics({"page_load"}, version="test", detectors=[SlowCheckout()])
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
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), [exporter_port]) as url:
        yield url


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
