"""The internal routed topic's messages: what stage 1 sends and stage 2 reads.

Stage 1 routes a batch of input events at a time. An event's item names the detectors that take
it with one key (those of one key space, or one detector: `routed_items`); a batch's items are
grouped by their routed partition, in input order, and each group travels as one message, so
stage 2 pays Faust's per-message cost (fetch, stream, acknowledgement, table write) once per
group rather than once per item.

A message also says how far, in event time, stage 1 has read each input partition (its
`progress`): every item that a source's events sent to this routed partition up to that time is
in this message or an earlier one. Stage 2's engines move their watermark by the slowest input
partition (`Engine.advance_sources`). A message with progress and no items is a progress report:
stage 1 sends one with a batch to each routed partition that got no items but whose watermark
the batch's progress can move (progress.py `HeardProgress`), and to every routed partition on
a timer, so partitions that got no items hear of the progress too, and an idle input
partition's progress follows the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import orjson
from friction_detector.detectors.api import Detector
from friction_detector.detectors.compiled import _core, routing_engine
from friction_detector.detectors.engine import Engine, read_routed_message, store_key
from friction_detector.detectors.events import Event, event_from_fields
from friction_detector.detectors.observer import EngineObserver
from friction_detector.streams import kept_json
from friction_detector.streams.kafka.topics import partition_for

# Kafka's default maximum message size is 1 MiB; a group is split well below it.
ROUTED_MESSAGE_BYTES = 256 * 1024
# What one produce request of a batch's routed messages may hold. aiokafka's producer puts one
# batch per partition in a request, and a routed message larger than its batch size makes a batch
# of its own: so a batch's messages, one per routed partition, go out as requests of up to
# `partitions` messages. A broker reads a request into one buffer, and from half a G1 heap
# region up (512 KiB on a broker heap below 2 GiB) the JVM allocates it as a humongous object,
# each of which started a collection: on the bench's broker, requests of about 1 MiB (4 routed
# partitions x 256 KiB) kept its GC threads at 1.2 to 1.5 CPU-seconds per 100,000 events.
PRODUCE_REQUEST_BYTES = 384 * 1024
# Below aiokafka's batch size (16 KiB), messages of a partition share a batch anyway.
MIN_ROUTED_MESSAGE_BYTES = 16 * 1024


def routed_message_bytes(partitions: int) -> int:
    """The size a routed message is split below, for a topic of `partitions`: one message for
    each partition fits one produce request of `PRODUCE_REQUEST_BYTES`."""
    share = PRODUCE_REQUEST_BYTES // max(1, partitions)
    return max(MIN_ROUTED_MESSAGE_BYTES, min(ROUTED_MESSAGE_BYTES, share))


Progress = Mapping[str, int]  # input source ("topic:partition") -> event time it has reached
# (detector, or the names of a key space's detectors that take the event by that key; key; event)
RoutedItem = tuple[str | list[str], str, Event]


def encode_item(detector: str | list[str], key: str, event: Event) -> bytes:
    """One event for one key of one detector, or of several (a list of names, of one key
    space): a JSON array, an item of a routed message (kept until its batch is sent:
    `kept_json`)."""
    return kept_json.dumps(
        [detector, key, event.time, event.event_id, event.type, event.user_id,
         event.session_id, event.attrs]
    )  # fmt: skip


def routed_by(detector: Detector, key: str) -> str:
    """The text whose routed partition a detector key's items and record go to: its key
    space's key where it declares one (shared with the other detectors of that space), else
    its own state key."""
    return store_key(detector.key_space or detector.name, key)


def routed_items(
    event: Event, routes: list[tuple[Detector, str]], partitions: int
) -> list[tuple[int, bytes]]:
    """The event's items for its (detector, key) routes (`Engine.routes`): one per key space
    and key, naming the detectors that take the event with that key (detectors without a key
    space each have their own), at the routed partition of `routed_by`, in the order they
    first route; a key that is not text raises TypeError. Stage 1 makes them with
    `event_router`, in the compiled core where it is built."""
    groups: dict[str, tuple[str, list[str]]] = {}
    for detector, key in routes:
        if not isinstance(key, str):
            raise TypeError(f"detector {detector.name!r} gave a key that is not text")
        by = routed_by(detector, key)
        if by in groups:
            groups[by][1].append(detector.name)
        else:
            groups[by] = (key, [detector.name])
    return [
        (partition_for(by.encode(), partitions),
         encode_item(names[0] if len(names) == 1 else names, key, event))
        for by, (key, names) in groups.items()
    ]  # fmt: skip


EventRouter = Callable[[Event], list[tuple[int, bytes]]]


def event_router(
    detectors: Sequence[Detector], observer: EngineObserver, partitions: int
) -> EventRouter:
    """`route(event)`: the event's `routed_items` among `partitions` for each of its (detector,
    key) routes (`Engine.routes`; a detector whose key raised is told to `observer` and left
    out). Where the compiled core is built, one call to it that also asks the detectors for
    their keys (the same items and reports; tests/unit/test_routing.py)."""
    if _core is None:
        router = Engine(detectors, observer=observer)  # routes; holds no state
        return lambda event: routed_items(event, router.routes(event), partitions)
    # The core writes each item's bytes itself, at their size; `dumps` only writes a value it
    # does not (a float), a fragment it copies into the item and drops.
    items_of, dumps = routing_engine(detectors, observer).routed_items, orjson.dumps
    return lambda event: items_of(event, partitions, dumps)


def encode_message(items: list[bytes], progress: Progress | None = None) -> bytes:
    """A routed message: `encode_item` items in order, and the progress they bring (if any)."""
    body = b'{"items":[' + b",".join(items) + b"]"
    if progress:
        body += b',"progress":' + orjson.dumps(progress)
    return body + b"}"


def encode_progress(progress: Progress) -> bytes:
    """A progress report: no items, only how far each input partition has read."""
    return orjson.dumps({"progress": progress})


def decode_routed(raw: bytes) -> tuple[list[RoutedItem], dict[str, int]]:
    """The (detector or detectors, key, event) items of a routed message, and the progress it
    reports."""
    items, progress = read_routed_message(raw)
    routed = []
    for detector, key, time_ms, event_id, event_type, user_id, session_id, attrs in items:
        fields = (event_id, event_type, time_ms, user_id, session_id, attrs)
        routed.append((detector, key, event_from_fields(fields)))
    return routed, progress


class RoutedBatch:
    """Items of one batch of input, grouped by routed partition, ready to send."""

    def __init__(self, max_bytes: int = ROUTED_MESSAGE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.groups: dict[int, list[bytes]] = {}
        self.sizes: dict[int, int] = {}
        self.full: list[tuple[int, bytes]] = []  # split-off messages, in order

    def add(self, partition: int, item: bytes) -> None:
        """Add an `encode_item` item to its routed partition's group."""
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

    def drain(self, progress: Progress | None = None) -> list[tuple[int, bytes]]:
        """The (partition, value) messages of the batch, each partition's in item order.

        Each partition's last message carries `progress`: the batch's items of that partition
        are all in it or before it, so the progress holds when stage 2 reads it.
        """
        messages = self.full + [
            (p, encode_message(group, progress)) for p, group in self.groups.items()
        ]
        self.full = []
        self.groups.clear()
        self.sizes.clear()
        return messages
