"""A real HTTP receiver for webhook tests: answers as scripted, slowly if asked, and keeps
every request with whether its signature verified."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from friction_detector.streams.webhook.signing import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)

SECRET = "s3cret-for-tests"


@dataclass
class Received:
    status: int
    body: bytes
    headers: dict[str, str]
    problem: str | None  # why the signature did not verify; None when it did

    @property
    def doc(self) -> dict:
        return orjson.loads(self.body)


class Receiver:
    """Listens on 127.0.0.1 (`port`, or any free one); answers each POST with the next of
    `statuses`, then `status`, after `delay_s`."""

    def __init__(
        self,
        statuses: Iterable[int] = (),
        status: int = 204,
        delay_s: float = 0.0,
        secret: str = SECRET,
        port: int = 0,
    ) -> None:
        self.statuses = deque(statuses)
        self.status = status
        self.delay_s = delay_s
        self.secret = secret.encode()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(receiver.delay_s)
                with receiver.lock:
                    status = receiver.statuses.popleft() if receiver.statuses else receiver.status
                    problem = verify(
                        receiver.secret,
                        body,
                        self.headers.get(TIMESTAMP_HEADER),
                        self.headers.get(SIGNATURE_HEADER),
                        time.time(),
                    )
                    receiver.received.append(Received(status, body, dict(self.headers), problem))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/friction"

    def accepted(self) -> list[Received]:
        """Requests answered 2xx, each delivery once (a retry after a lost answer repeats it)."""
        with self.lock:
            seen, out = set(), []
            for request in self.received:
                delivery = request.headers.get(DELIVERY_HEADER)
                if 200 <= request.status < 300 and delivery not in seen:
                    seen.add(delivery)
                    out.append(request)
            return out

    def records(self) -> list[dict]:
        return [record for request in self.accepted() for record in request.doc["records"]]

    def wait_for_records(self, count: int, timeout_s: float = 20) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            records = self.records()
            if len(records) >= count:
                return records
            time.sleep(0.05)
        return self.records()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
