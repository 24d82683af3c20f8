"""A short check that a bootstrap broker answers at all, before the real Kafka client.

kafka-python and aiokafka retry an absent broker until their bootstrap timeout (30 s) and end
with a long "Unable to bootstrap" traceback. A TCP connection of our own to each bootstrap
address says within seconds that nothing is there; TLS, SASL and the protocol are left to the
real client (and to auth.py).
"""

from __future__ import annotations

import socket
import time

from friction_detector.streams.kafka.settings import KafkaSettings

CHECK_TIMEOUT_S = 10.0


class BrokerUnreachable(Exception):
    """No bootstrap broker accepted a connection; the message names each and why."""


def check_reachable(settings: KafkaSettings, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """Return once one bootstrap broker accepts a TCP connection, else raise BrokerUnreachable."""
    deadline = time.monotonic() + timeout_s
    failures = []
    for address in settings.bootstrap:
        host, _, port = address.rpartition(":")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            failures.append(f"{address} (not tried: {timeout_s:g} s passed)")
            continue
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=remaining):
                return
        except (OSError, ValueError) as err:
            reason = "timed out" if isinstance(err, TimeoutError) else _reason(err)
            failures.append(f"{address} ({reason})")
    raise BrokerUnreachable(f"no Kafka broker reachable at {', '.join(failures)}")


def _reason(err: Exception) -> str:
    if isinstance(err, socket.gaierror):
        return f"unknown host: {err.strerror}"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    return str(err)
