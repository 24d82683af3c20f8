"""/healthz answers from the event loop's heartbeat, /ready from what the heartbeat said, and
every other path is /metrics."""

from __future__ import annotations

import urllib.error
import urllib.request
from wsgiref.util import setup_testing_defaults

from friction_detector.streams.observability.health import Health, health_app
from friction_detector.streams.observability.metrics import FrictionMetrics


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def get(app, path: str) -> tuple[str, str]:
    environ: dict = {"PATH_INFO": path}
    setup_testing_defaults(environ)
    answer: dict = {}

    def start_response(status: str, headers: list) -> None:
        answer["status"] = status

    body = b"".join(app(environ, start_response)).decode()
    return answer["status"], body


def metrics_only(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"metrics\n"]


def test_a_recent_heartbeat_is_healthy() -> None:
    clock = Clock()
    health = Health(stale_after_s=5, clock=clock)
    health.beat(None)
    clock.now += 4

    assert get(health_app(metrics_only, health), "/healthz") == ("200 OK", "ok\n")


def test_a_stale_heartbeat_is_503_with_its_age() -> None:
    clock = Clock()
    health = Health(stale_after_s=5, clock=clock)
    health.beat(None)
    clock.now += 12

    status, body = get(health_app(metrics_only, health), "/healthz")

    assert status == "503 Service Unavailable"
    assert body == "event loop stalled: last heartbeat 12.0 s ago\n"


def test_a_loop_that_never_beat_is_unhealthy_once_the_grace_is_over() -> None:
    clock = Clock()
    health = Health(stale_after_s=5, clock=clock)
    app = health_app(metrics_only, health)
    before = get(app, "/healthz")[0]
    clock.now += 6

    assert before == "200 OK"
    assert get(app, "/healthz") == (
        "503 Service Unavailable",
        "event loop not started after 6.0 s\n",
    )


def test_ready_says_why_not_until_the_heartbeat_reports_ready() -> None:
    clock = Clock()
    health = Health(stale_after_s=5, clock=clock)
    app = health_app(metrics_only, health)
    health.beat("table recovery in progress")
    waiting = get(app, "/ready")
    health.beat(None)

    assert waiting == ("503 Service Unavailable", "table recovery in progress\n")
    assert get(app, "/ready") == ("200 OK", "ready\n")


def test_a_ready_worker_whose_loop_stalled_is_not_ready() -> None:
    clock = Clock()
    health = Health(stale_after_s=5, clock=clock)
    health.beat(None)
    clock.now += 30

    status, body = get(health_app(metrics_only, health), "/ready")

    assert status == "503 Service Unavailable"
    assert body.startswith("event loop stalled")


def test_other_paths_are_the_metrics() -> None:
    app = health_app(metrics_only, Health())

    assert get(app, "/metrics") == ("200 OK", "metrics\n")


def test_served_metrics_include_the_process_and_python_metrics_and_health_on_one_port() -> None:
    health = Health()
    health.beat("waiting for partitions")
    server = FrictionMetrics({"page_view"}).serve(0, addr="127.0.0.1", health=health)
    try:
        port = server.server_address[1]
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            text = response.read().decode()
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
            healthz = response.status
        try:
            urllib.request.urlopen(f"{base}/ready", timeout=5)
            ready = 200
        except urllib.error.HTTPError as err:
            ready = err.code
    finally:
        server.shutdown()
        server.server_close()

    assert "process_resident_memory_bytes" in text
    assert "python_info" in text
    assert "python_gc_collections_total" in text
    assert (healthz, ready) == (200, 503)


def test_another_stalled_loop_of_the_worker_makes_it_unhealthy_and_unready() -> None:
    """Stage 1's process has a loop of its own (streams/worker/input_process.py)."""
    clock = Clock()
    health = Health(stale_after_s=5, clock=clock)
    stalled: list[str] = []
    health.also_watch(lambda: stalled[0] if stalled else None)
    health.beat(None)
    app = health_app(metrics_only, health)
    assert get(app, "/healthz") == ("200 OK", "ok\n")

    stalled.append("stage 1's event loop stalled: last report 11.0 s ago")

    assert get(app, "/healthz") == ("503 Service Unavailable", f"{stalled[0]}\n")
    assert get(app, "/ready") == ("503 Service Unavailable", f"{stalled[0]}\n")
