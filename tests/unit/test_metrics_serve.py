"""Where /metrics listens: the address given, so a worker can keep its metrics to itself."""

from __future__ import annotations

import urllib.request

from friction_detector.streams.observability.metrics import FrictionMetrics


def test_serve_listens_on_the_given_address_and_answers_there():
    server = FrictionMetrics({"page_view"}).serve(0, addr="127.0.0.1")
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert b"friction_build_info" in response.read()
    finally:
        server.shutdown()
        server.server_close()
