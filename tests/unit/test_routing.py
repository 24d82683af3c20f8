"""Routed messages carry a batch's items per partition, in order, and read back as events."""

from __future__ import annotations

import orjson

from detectors.events import Event
from streams.routing import RoutedBatch, decode_routed, encode_item, encode_tick


def event(n: int, attrs: dict | None = None) -> Event:
    return Event(f"e{n}", "page_loaded", 1_700_000_000_000 + n, f"u{n % 3}", f"s{n % 2}",
                 attrs or {"page": "checkout", "load_ms": 100 + n})  # fmt: skip


def test_items_are_grouped_by_partition_in_the_order_they_were_added() -> None:
    batch = RoutedBatch()
    added = {0: [], 1: []}
    for n in range(10):
        partition = n % 2
        batch.add(partition, "slow_checkout", f"s{n}", event(n))
        added[partition].append(("slow_checkout", f"s{n}", event(n)))

    messages = batch.drain()

    assert [p for p, _ in messages] == [0, 1]
    assert {p: decode_routed(value) for p, value in messages} == added
    assert batch.drain() == []  # drained: the next batch starts empty


def test_a_large_group_is_split_below_the_size_limit_without_losing_or_reordering_items() -> None:
    limit = 2_000
    batch = RoutedBatch(max_bytes=limit)
    items = [("slow_checkout", f"s{n}", event(n, {"note": "x" * 150})) for n in range(40)]
    for detector, key, e in items:
        batch.add(3, detector, key, e)

    messages = batch.drain()

    assert len(messages) > 1
    assert all(partition == 3 for partition, _ in messages)
    assert all(len(value) <= limit for _, value in messages)
    assert [item for _, value in messages for item in decode_routed(value)] == items


def test_a_single_item_message_of_an_older_worker_is_still_read() -> None:
    older = encode_item("late_reset_email", "u1", event(1))

    assert decode_routed(older) == [("late_reset_email", "u1", event(1))]


def test_a_tick_reads_as_its_wall_clock_time() -> None:
    assert decode_routed(encode_tick(1_700_000_123_456)) == 1_700_000_123_456
    assert type(orjson.loads(encode_tick(5))) is dict  # never mistaken for a list of items
