"""The Alertmanager client against a stand-in HTTP server: payload, re-sends, errors."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import orjson
import pytest
from friction_detector.detectors.alerts import Alert
from friction_detector.streams.observability.alertmanager import AlertmanagerClient

T0 = 1_795_305_600_000


class Recorder(http.server.BaseHTTPRequestHandler):
    statuses: list[int] = []
    bodies: list[list] = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(orjson.loads(self.rfile.read(length)))
        status = type(self).statuses.pop(0) if type(self).statuses else 200
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b'{"error":"bad"}' if status != 200 else b"")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[type[Recorder]]:
    handler = type("Handler", (Recorder,), {"statuses": [], "bodies": []})
    httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield handler
    httpd.shutdown()


def alert(status: str = "firing") -> Alert:
    return Alert(
        status,
        {"alertname": "X", "detector": "d", "severity": "warning", "segment": "s"},
        {"summary": "it broke", "runbook_url": "https://example.org/x.md"},
        T0,
        {"rate": 1.0},
        ends_at_ms=T0 + 600_000 if status == "resolved" else None,
    )


class Clock:
    def __init__(self) -> None:
        self.now = T0 / 1000 + 60

    def __call__(self) -> float:
        return self.now


def test_publish_posts_the_v2_alert_shape(server):
    client = AlertmanagerClient(server.url, 60, generator_url="https://example.org/friction")
    assert client.publish([alert()])
    (body,) = server.bodies
    (sent,) = body
    assert sent["labels"] == {
        "alertname": "X",
        "detector": "d",
        "severity": "warning",
        "segment": "s",
    }
    assert sent["annotations"]["summary"] == "it broke"
    assert sent["annotations"]["alert_id"] == alert().alert_id
    assert sent["startsAt"] == "2026-11-22T00:00:00.000Z"
    assert sent["endsAt"] > sent["startsAt"]
    assert sent["generatorURL"] == "https://example.org/friction"


def test_firing_alerts_are_resent_each_interval_until_resolved(server):
    clock = Clock()
    client = AlertmanagerClient(server.url, 60, clock=clock)
    client.publish([alert()])
    clock.now += 30
    client.resend_due()
    assert len(server.bodies) == 1
    clock.now += 31
    client.resend_due()
    assert len(server.bodies) == 2
    client.publish([alert("resolved")])
    assert server.bodies[-1][0]["endsAt"] == "2026-11-22T00:10:00.000Z"
    clock.now += 600
    client.resend_due()
    assert len(server.bodies) == 3
    assert client.firing_ids() == set()


def test_firing_alerts_another_worker_took_over_are_no_longer_resent(server):
    """Re-sent after their new owner resolved them, they would fire again."""
    clock = Clock()
    client = AlertmanagerClient(server.url, 60, clock=clock)
    client.publish([alert()])
    client.forget_firing()
    clock.now += 61
    client.resend_due()
    assert len(server.bodies) == 1
    assert client.firing_ids() == set()


def test_a_server_error_is_retried_with_backoff_not_raised(server, caplog):
    clock = Clock()
    server.statuses = [503, 503]
    client = AlertmanagerClient(server.url, 60, clock=clock)
    assert client.publish([alert("resolved")]) is False
    assert "HTTP 503" in caplog.text
    assert client.resend_due() is False  # backing off: nothing sent
    assert len(server.bodies) == 1
    clock.now += 1
    assert client.resend_due() is False  # second failure, backoff doubles
    clock.now += 2
    assert client.resend_due() is True
    assert [b[0]["endsAt"] for b in server.bodies[1:]] == ["2026-11-22T00:10:00.000Z"] * 2
    clock.now += 100
    client.resend_due()
    assert len(server.bodies) == 3  # delivered, not sent again


def test_a_refused_alert_is_logged_and_not_retried(server, caplog):
    server.statuses = [400]
    client = AlertmanagerClient(server.url, 60)
    assert client.publish([alert("resolved")]) is False
    assert "refused 1 alert(s): HTTP 400" in caplog.text
    assert client.resend_due() is True
    assert len(server.bodies) == 1


def test_an_unreachable_alertmanager_is_logged_not_raised(caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = AlertmanagerClient(f"http://127.0.0.1:{port}", 60, timeout_s=1)
    assert client.publish([alert()]) is False
    assert "unreachable" in caplog.text
    assert client.firing_ids() == {alert().alert_id}
