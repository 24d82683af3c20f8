"""`friction send FILE`: JSON Lines onto the input topic, in batch messages by default.

Events go in batch messages (streams/kafka/batch_producer.py: each a JSON array of the events of
one partition, closed by size or age), which is how a worker reads the most events per second;
`--one-per-message` sends each line as a message of its own, as a producer that does not batch
would. Bad lines are sent as they are, alone: the worker dead-letters them with their reason,
exactly as it would a producer's bad message, so the whole path can be tried from a file. A line
Kafka cannot take (over the producer's `max_request_size`) is reported with its line number and
skipped, and the rest is sent; it is read in bounded chunks, never whole.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import BinaryIO, NamedTuple, TextIO

from friction_detector.streams.cli.lines import LongLine, bounded_lines
from friction_detector.streams.kafka.batch_producer import EventBatcher, event_key
from friction_detector.streams.kafka.settings import KafkaSettings
from kafka import KafkaProducer
from kafka.errors import MessageSizeTooLargeError

PROGRESS_EVERY_S = 2.0


def producer_for(settings: KafkaSettings, **overrides) -> KafkaProducer:
    config = dict(acks="all", linger_ms=5, batch_size=256 * 1024, **settings.client_config())
    config.update(overrides)
    return KafkaProducer(**config)


class SendResult(NamedTuple):
    """What `send` did: lines sent, and lines skipped because Kafka cannot take them."""

    sent: int
    skipped: int


def send_lines(
    source: BinaryIO,
    producer: KafkaProducer,
    topic: str,
    out: TextIO | None = None,
    batch: bool = True,
) -> SendResult:
    """Send every non-blank line, in batch messages unless not `batch`; report each line over
    the message limit and go on.

    Reports, progress and the summary go to `out`, standard error by default.
    """
    out = out or sys.stderr
    batcher = EventBatcher(producer, topic) if batch else None
    limit = producer.config["max_request_size"]
    started = last = time.monotonic()
    sent = skipped = 0
    for number, line in enumerate(bounded_lines(source, limit), 1):
        if isinstance(line, LongLine):
            _report_skipped(number, line.size, limit, out)
            skipped += 1
            continue
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        try:
            if batcher is not None:
                batcher.add(line)
            else:
                producer.send(topic, key=event_key(line), value=line)
        except MessageSizeTooLargeError:  # within the limit, but not with the record's framing
            _report_skipped(number, len(line), limit, out, " once framed as a record")
            skipped += 1
            continue
        sent += 1
        if not sent % 4096:
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY_S:
                last = now
                rate = sent / (now - started)
                print(f"send: {sent:,} events ({rate:,.0f}/s)", file=out, flush=True)
    if batcher is not None:
        batcher.flush()
    else:
        producer.flush()
    elapsed = max(time.monotonic() - started, 1e-9)
    messages = f" in {batcher.sent_messages:,} batch messages" if batcher is not None else ""
    print(
        f"send: {sent:,} events{messages} to {topic} in {elapsed:.1f}s ({sent / elapsed:,.0f}/s)"
        + (f"; skipped {skipped:,} over the message limit" if skipped else ""),
        file=out,
        flush=True,
    )
    return SendResult(sent, skipped)


def _report_skipped(number: int, size: int, limit: int, out: TextIO, how: str = "") -> None:
    print(
        f"line {number}: {size:,} bytes, over the {limit:,}-byte message limit{how}; not sent",
        file=out,
        flush=True,
    )


def send_file(
    path: str, settings: KafkaSettings, topic: str | None = None, batch: bool = True
) -> SendResult:
    """Send a file (or standard input for `-`); the file is opened before Kafka is reached."""
    topic = topic or settings.input_topics[0]
    with contextlib.ExitStack() as files:
        source = sys.stdin.buffer if path == "-" else files.enter_context(open(path, "rb"))
        producer = producer_for(settings)
        try:
            return send_lines(source, producer, topic, batch=batch)
        finally:
            producer.close()
