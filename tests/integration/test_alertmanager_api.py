"""A real Alertmanager receives our alerts: firing shows as active, resolved disappears."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from detectors.alerts import Alert
from streams.alertmanager import AlertmanagerClient

BINARY = "prometheus-alertmanager"
CONFIG = """\
route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: blackhole
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def incident(status: str, starts_at_ms: int, ends_at_ms: int | None = None) -> Alert:
    return Alert(
        status,
        {
            "alertname": "FrictionResetEmailsDelayed",
            "detector": "late_reset_email",
            "severity": "critical",
            "segment": "password_reset",
        },
        {"summary": "Password-reset emails late", "runbook_url": "https://example.org/r.md"},
        starts_at_ms,
        {"share": 0.5},
        ends_at_ms=ends_at_ms,
    )


def active(url: str) -> list[dict]:
    return [
        a
        for a in get_json(url + "/api/v2/alerts?active=true&silenced=false&inhibited=false")
        if a["labels"].get("alertname") == "FrictionResetEmailsDelayed"
    ]


def test_firing_alert_is_active_then_gone_once_resolved(alertmanager_url):
    client = AlertmanagerClient(alertmanager_url, resend_interval_s=60)
    starts = int(time.time() * 1000) - 120_000
    firing = incident("firing", starts)
    assert client.publish([firing])
    shown = active(alertmanager_url)
    assert len(shown) == 1
    assert shown[0]["status"]["state"] == "active"
    assert shown[0]["labels"]["segment"] == "password_reset"
    assert shown[0]["annotations"]["alert_id"] == firing.alert_id
    assert shown[0]["annotations"]["runbook_url"] == "https://example.org/r.md"

    assert client.resend_due(time.time() + 61)  # a re-send keeps it active
    assert len(active(alertmanager_url)) == 1

    resolved = incident("resolved", starts, int(time.time() * 1000) - 1000)
    assert resolved.alert_id == firing.alert_id
    assert client.publish([resolved])
    assert active(alertmanager_url) == []
