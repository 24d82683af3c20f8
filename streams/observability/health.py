"""`/healthz` and `/ready` beside `/metrics`, on the same port.

The HTTP server runs in its own thread, so it answers while the worker's event loop is stuck:
`/metrics` alone says nothing about the loop. The loop therefore beats a heartbeat every second
(streams/worker/heartbeat.py), carrying whether the worker is ready; `/healthz` answers 200
only while the last beat is recent, and `/ready` only while it is also ready. Both answer 503
otherwise, with the reason as plain text.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.exposition import ThreadingWSGIServer

HEARTBEAT_INTERVAL_S = 1.0
# The loop is taken for stuck when it has not beaten for this long (it beats every second).
STALE_AFTER_S = 10.0

WSGIApp = Callable[[dict, Callable[..., Any]], Iterable[bytes]]


class Health:
    """The event loop's last heartbeat and what it said about readiness.

    `beat` is called on the event loop, `liveness` and `readiness` from the HTTP thread. Before
    the first beat the clock starts at creation, so a loop that never starts fails too.
    """

    def __init__(
        self, stale_after_s: float = STALE_AFTER_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stale_after_s = stale_after_s
        self.clock = clock
        self._lock = threading.Lock()
        self._last_beat = clock()
        self._beaten = False
        self._not_ready: str | None = "starting: no heartbeat from the event loop yet"
        self._other_loops: list[Callable[[], str | None]] = []

    def also_watch(self, stalled: Callable[[], str | None]) -> None:
        """Another event loop of the worker (stage 1's process): `stalled` says why it is
        stuck, or None; called from the HTTP thread."""
        self._other_loops.append(stalled)

    def beat(self, not_ready: str | None) -> None:
        """The loop turns; `not_ready` is why the worker cannot process yet (None: it can)."""
        with self._lock:
            self._last_beat = self.clock()
            self._beaten = True
            self._not_ready = not_ready

    def liveness(self) -> tuple[bool, str]:
        with self._lock:
            age = self.clock() - self._last_beat
            beaten = self._beaten
        if age <= self.stale_after_s:
            for stalled in self._other_loops:
                reason = stalled()
                if reason is not None:
                    return False, reason
            return True, "ok"
        if not beaten:
            return False, f"event loop not started after {age:.1f} s"
        return False, f"event loop stalled: last heartbeat {age:.1f} s ago"

    def readiness(self) -> tuple[bool, str]:
        live, reason = self.liveness()
        if not live:
            return False, reason
        with self._lock:
            not_ready = self._not_ready
        if not_ready is not None:
            return False, not_ready
        return True, "ready"


def _answer(start_response: Callable[..., Any], ok: bool, reason: str) -> list[bytes]:
    status = "200 OK" if ok else "503 Service Unavailable"
    body = f"{reason}\n".encode()
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


def health_app(metrics_app: WSGIApp, health: Health) -> WSGIApp:
    """`/healthz` and `/ready` from `health`; every other path goes to `metrics_app`."""

    def app(environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return _answer(start_response, *health.liveness())
        if path == "/ready":
            return _answer(start_response, *health.readiness())
        return metrics_app(environ, start_response)

    return app


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape or probe."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def start_server(app: WSGIApp, port: int, addr: str = "0.0.0.0") -> WSGIServer:
    """Serve `app` on `addr`:`port` (IPv4 or IPv6) from a daemon thread; port 0 takes a free one.

    A thread of its own, as prometheus_client's `start_http_server`, whose app cannot be
    wrapped: the answers do not wait for the event loop.
    """
    family, *_, sockaddr = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM)[0]

    class Server(ThreadingWSGIServer):
        address_family = family

    server = make_server(str(sockaddr[0]), port, app, Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
