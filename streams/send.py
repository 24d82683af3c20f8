"""`friction send FILE`: JSON Lines onto the input topic, one message per line.

Bad lines are sent as they are: the worker dead-letters them with their reason, exactly as it
would a producer's bad message, so the whole path can be tried from a file.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import BinaryIO

import orjson
from kafka import KafkaProducer

from streams.settings import KafkaSettings

PROGRESS_EVERY_S = 2.0


def message_key(line: bytes) -> bytes | None:
    """session_id, else user_id, else event_id: keeps one customer's events in order."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(doc) is not dict:
        return None
    for name in ("session_id", "user_id", "event_id"):
        value = doc.get(name)
        if type(value) is str and value:
            return value.encode()
    return None


def producer_for(settings: KafkaSettings, **overrides) -> KafkaProducer:
    config = dict(acks="all", linger_ms=5, batch_size=256 * 1024, **settings.client_config())
    config.update(overrides)
    return KafkaProducer(**config)


def send_lines(
    lines: Iterable[bytes],
    producer: KafkaProducer,
    topic: str,
    progress: BinaryIO | None = sys.stderr,
) -> int:
    """Send every non-blank line; returns how many were sent (flushed)."""
    started = last = time.monotonic()
    sent = 0
    for line in lines:
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        producer.send(topic, key=message_key(line), value=line)
        sent += 1
        if progress is not None and not sent % 4096:
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY_S:
                last = now
                rate = sent / (now - started)
                print(f"send: {sent:,} messages ({rate:,.0f}/s)", file=progress, flush=True)
    producer.flush()
    if progress is not None:
        elapsed = max(time.monotonic() - started, 1e-9)
        print(
            f"send: {sent:,} messages to {topic} in {elapsed:.1f}s ({sent / elapsed:,.0f}/s)",
            file=progress,
            flush=True,
        )
    return sent


def send_file(path: str, settings: KafkaSettings, topic: str | None = None) -> int:
    topic = topic or settings.input_topics[0]
    producer = producer_for(settings)
    try:
        if path == "-":
            return send_lines(sys.stdin.buffer, producer, topic)
        with open(path, "rb") as source:
            return send_lines(source, producer, topic)
    finally:
        producer.close()
