"""The internal routed topic's messages: what stage 1 sends and stage 2 reads.

Stage 1 routes a batch of input events at a time. Its (detector, key) items are grouped by the
routed partition of their state key, in input order, and each group travels as one message, so
stage 2 pays Faust's per-message cost (fetch, stream, acknowledgement, table write) once per
group rather than once per item. A tick is a message of its own.
"""

from __future__ import annotations

import orjson

from detectors.events import Event, event_from_fields

# Kafka's default maximum message size is 1 MiB; a group is split well below it.
ROUTED_MESSAGE_BYTES = 256 * 1024


def encode_item(detector: str, key: str, event: Event) -> bytes:
    """One event for one detector key: a JSON array, an item of a routed message."""
    return orjson.dumps(
        [detector, key, event.time, event.event_id, event.type, event.user_id,
         event.session_id, event.attrs]
    )  # fmt: skip


def encode_message(items: list[bytes]) -> bytes:
    """A routed message: a JSON array of `encode_item` items, in order; never a tick."""
    return b"[" + b",".join(items) + b"]"


def encode_tick(now_ms: int) -> bytes:
    return orjson.dumps({"tick": now_ms})


def decode_routed(raw: bytes) -> list[tuple[str, str, Event]] | int:
    """The (detector, key, event) items of a routed message, or the wall-clock time of a tick.

    A one-item message of an older worker (a bare item, not a list of them) is read too, so an
    upgrade does not stumble on what is still in the routed topic.
    """
    doc = orjson.loads(raw)
    if type(doc) is dict:
        return int(doc["tick"])
    if doc and type(doc[0]) is str:
        doc = [doc]
    items = []
    for detector, key, time_ms, event_id, event_type, user_id, session_id, attrs in doc:
        fields = (event_id, event_type, time_ms, user_id, session_id, attrs)
        items.append((detector, key, event_from_fields(fields)))
    return items


class RoutedBatch:
    """Items of one batch of input, grouped by routed partition, ready to send."""

    def __init__(self, max_bytes: int = ROUTED_MESSAGE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.groups: dict[int, list[bytes]] = {}
        self.sizes: dict[int, int] = {}
        self.full: list[tuple[int, bytes]] = []  # split-off messages, in order

    def add(self, partition: int, detector: str, key: str, event: Event) -> None:
        item = encode_item(detector, key, event)
        group = self.groups.get(partition)
        if group is None:
            group = self.groups[partition] = []
            self.sizes[partition] = 0
        elif self.sizes[partition] + len(item) > self.max_bytes:
            self.full.append((partition, encode_message(group)))
            group = self.groups[partition] = []
            self.sizes[partition] = 0
        group.append(item)
        self.sizes[partition] += len(item) + 1

    def drain(self) -> list[tuple[int, bytes]]:
        """The (partition, value) messages of the batch, each partition's in item order."""
        messages = self.full + [(p, encode_message(group)) for p, group in self.groups.items()]
        self.full = []
        self.groups.clear()
        self.sizes.clear()
        return messages
