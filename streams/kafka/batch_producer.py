"""Events to Kafka in batch messages (streams/event_batches.py): the producer helper.

`friction send` and `friction simulate` send through it, and a Python producer can too:

    batches = EventBatcher(producer, "friction-events")
    batches.add(orjson.dumps(event))   # as often as events come
    batches.close_due()                # now and then (a timer, a loop): sends batches due by age
    batches.flush()                    # at the end: sends what is held, then producer.flush()

An event goes to the partition its key (session_id, else user_id, else event_id) hashes to, as a
message of its own keyed the same way would, so one customer's events stay in one partition and
in order. Each partition has one open batch, which closes when it holds `max_events` events, when
one more event would take it over `max_bytes`, or once its first event has waited `max_age_s`:
an event is never held longer than that, whatever the traffic.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
from friction_detector.streams.event_batches import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, encode_batch
from friction_detector.streams.kafka.topics import partition_for

DEFAULT_MAX_EVENTS = 500
DEFAULT_MAX_AGE_S = 0.05
# Below the batch limit and the producer's default max_request_size, with room for framing.
DEFAULT_MAX_BYTES = min(MAX_BATCH_BYTES, 1_048_576) - 16 * 1024


def event_key(value: bytes) -> bytes | None:
    """session_id, else user_id, else event_id: keeps one customer's events in order."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if type(doc) is not dict:
        return None
    for name in ("session_id", "user_id", "event_id"):
        field = doc.get(name)
        if type(field) is str and field:
            return field.encode()
    return None


class _Open:
    """A partition's open batch: its events, their bytes, its key, when its first came."""

    __slots__ = ("events", "size", "key", "since")

    def __init__(self, key: bytes | None, since: float) -> None:
        self.events: list[bytes] = []
        self.size = 1  # the closing bracket; each event adds its bytes and a comma or `[`
        self.key = key
        self.since = since


class EventBatcher:
    """Batches events per partition of `topic` for a kafka-python `KafkaProducer` (or any
    object with its `send(topic, key=, value=, partition=)`, `partitions_for` and `flush`)."""

    def __init__(
        self,
        producer,
        topic: str,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= max_events <= MAX_BATCH_EVENTS:
            raise ValueError(f"max_events must be 1..{MAX_BATCH_EVENTS}, got {max_events}")
        self.producer = producer
        self.topic = topic
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.clock = clock
        partitions = producer.partitions_for(topic)
        if not partitions:
            raise ValueError(f"topic {topic} has no partitions known to the producer")
        self.partitions = len(partitions)
        self.open: dict[int, _Open] = {}
        self.sent_messages = 0

    def add(self, value: bytes, key: bytes | None = None) -> None:
        """Hold one event (its JSON); send batches that are full or due.

        An event that is not valid JSON or not an object goes alone, as it is: the worker
        dead-letters it as it would any producer's bad message."""
        if key is None:
            key = event_key(value)
        if key is None:
            self._send([value], None, None, alone=True)
            return
        now = self.clock()
        partition = partition_for(key, self.partitions)
        if len(value) + 2 > self.max_bytes:  # too large for any batch: alone, as it is
            self._send([value], key, partition, alone=True)
            return
        batch = self.open.get(partition)
        if batch is not None and (
            len(batch.events) >= self.max_events or batch.size + len(value) + 1 > self.max_bytes
        ):
            self._close(partition)
            batch = None
        if batch is None:
            batch = self.open[partition] = _Open(key, now)
        batch.events.append(value)
        batch.size += len(value) + 1
        self.close_due(now)

    def close_due(self, now: float | None = None) -> None:
        """Send every batch whose first event has waited `max_age_s` or longer."""
        now = self.clock() if now is None else now
        for partition in [p for p, b in self.open.items() if now - b.since >= self.max_age_s]:
            self._close(partition)

    def flush(self) -> None:
        """Send every open batch, and wait until the broker has everything sent."""
        for partition in list(self.open):
            self._close(partition)
        self.producer.flush()

    def _close(self, partition: int) -> None:
        batch = self.open.pop(partition)
        self._send(batch.events, batch.key, partition)

    def _send(
        self, events: list[bytes], key: bytes | None, partition: int | None, alone: bool = False
    ) -> None:
        value = events[0] if alone else encode_batch(events)
        self.producer.send(self.topic, key=key, value=value, partition=partition)
        self.sent_messages += 1
