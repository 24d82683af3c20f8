"""The image's HEALTHCHECK asks the worker's /healthz, with what a slim image has (no curl)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from friction_detector.streams.observability.health import Health
from friction_detector.streams.observability.metrics import FrictionMetrics

ROOT = Path(__file__).resolve().parents[2]


def healthcheck_command() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", text, re.M)
    assert match, "no HEALTHCHECK with an exec-form CMD in the Dockerfile"
    return json.loads(match.group(1))


def run_check(health: Health) -> int:
    command = healthcheck_command()
    assert command[0] == "python"
    server = FrictionMetrics(set()).serve(0, addr="127.0.0.1", health=health)
    try:
        env = {**os.environ, "FRICTION_METRICS_PORT": str(server.server_address[1])}
        return subprocess.run([sys.executable, *command[1:]], env=env, timeout=30).returncode
    finally:
        server.shutdown()
        server.server_close()


def test_the_healthcheck_passes_while_the_event_loop_beats():
    health = Health()
    health.beat("table recovery in progress")  # alive, if not ready yet

    assert run_check(health) == 0


def test_the_healthcheck_fails_once_the_heartbeat_is_stale():
    health = Health(stale_after_s=0.0)
    health.beat(None)

    assert run_check(health) != 0
