#!/usr/bin/env python3
"""A minimal receiver of friction-detector's webhook: verifies each request, prints its records.

Standard library only, so it can be copied into any service. Run it with the secret the
worker signs with:

    FRICTION_WEBHOOK_SECRET=... python3 receiver.py --port 8080

Each authentic delivery's records are printed to standard output, one JSON object per line;
a request with a bad or stale signature gets 401 and is not printed. A delivery sent again
(the same `delivery_id`, after a timeout on our side) is acknowledged and not printed twice.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_S = 300  # refuse requests signed longer ago than this: a captured one cannot be replayed


def verify(secret: bytes, body: bytes, timestamp: str, signature: str, now: float) -> str | None:
    """None when the request is authentic and fresh, else the reason it is not.

    The signature is `sha256=` and the hex HMAC-SHA256, keyed with the secret, of the
    `X-Friction-Timestamp` value, a dot, and the raw body exactly as received.
    """
    try:
        sent = int(timestamp)
    except ValueError:
        return "bad or missing X-Friction-Timestamp"
    if abs(now - sent) > TOLERANCE_S:
        return "stale timestamp"
    expected = hmac.new(secret, f"{sent}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest("sha256=" + expected, signature):
        return "signature does not match"
    return None


class Receiver(BaseHTTPRequestHandler):
    secret = b""
    seen: set[str] = set()

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        problem = verify(
            self.secret,
            body,
            self.headers.get("X-Friction-Timestamp", ""),
            self.headers.get("X-Friction-Signature", ""),
            time.time(),
        )
        if problem:
            print(f"refused: {problem}", file=sys.stderr, flush=True)
            self.send_response(401)
            self.end_headers()
            return
        delivery = json.loads(body)
        if delivery["delivery_id"] not in self.seen:
            self.seen.add(delivery["delivery_id"])
            for record in delivery["records"]:
                print(json.dumps(record), flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # one line per delivery on stdout is enough


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--secret-env", default="FRICTION_WEBHOOK_SECRET")
    args = parser.parse_args()
    secret = os.environ.get(args.secret_env, "")
    if not secret:
        print(f"receiver: set {args.secret_env} to the webhook's secret", file=sys.stderr)
        return 2
    Receiver.secret = secret.encode()
    server = ThreadingHTTPServer((args.bind, args.port), Receiver)
    print(f"receiver: listening on {args.bind}:{server.server_port}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
