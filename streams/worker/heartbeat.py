"""The event loop's heartbeat for /healthz and /ready (streams/observability/health.py).

A service beside the app, started with the worker: the app's own timers start only after the
first table recovery, and a long recovery is no reason to call the worker dead.
"""

from __future__ import annotations

import logging

import faust
from friction_detector.streams.observability.health import HEARTBEAT_INTERVAL_S, Health
from friction_detector.streams.worker.faust_internals import not_ready_reason
from mode import Service

log = logging.getLogger(__name__)


class Heartbeat(Service):
    """Every second, on the event loop: the loop turns, and whether the worker is ready."""

    def __init__(self, app: faust.App, health: Health, **kwargs) -> None:
        super().__init__(**kwargs)
        self.app = app
        self.health = health

    async def on_start(self) -> None:
        self.beat()

    @Service.timer(HEARTBEAT_INTERVAL_S)
    async def _beat(self) -> None:
        self.beat()

    def beat(self) -> None:
        try:
            reason = not_ready_reason(self.app)
        except Exception as error:  # a heartbeat must never stop the worker
            log.exception("readiness check failed")
            reason = f"readiness check failed: {error!r}"
        self.health.beat(reason)
