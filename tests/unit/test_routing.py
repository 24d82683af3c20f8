"""Routed messages carry a batch's items per partition, in order, with the input partitions'
progress, and read back as events."""

from __future__ import annotations

from friction_detector.detectors.events import Event
from friction_detector.streams.sources import input_source, source_topic
from friction_detector.streams.worker.routing import (
    RoutedBatch,
    decode_routed,
    encode_item,
    encode_progress,
)


def event(n: int, attrs: dict | None = None) -> Event:
    return Event(f"e{n}", "page_loaded", 1_700_000_000_000 + n, f"u{n % 3}", f"s{n % 2}",
                 attrs or {"page": "checkout", "load_ms": 100 + n})  # fmt: skip


def add(batch: RoutedBatch, partition: int, detector: str, key: str, e: Event) -> None:
    batch.add(partition, encode_item(detector, key, e))


def test_items_are_grouped_by_partition_in_the_order_they_were_added() -> None:
    batch = RoutedBatch()
    added = {0: [], 1: []}
    for n in range(10):
        partition = n % 2
        add(batch, partition, "slow_checkout", f"s{n}", event(n))
        added[partition].append(("slow_checkout", f"s{n}", event(n)))

    messages = batch.drain({"events:0": 123})

    assert [p for p, _ in messages] == [0, 1]
    assert {p: decode_routed(value) for p, value in messages} == {
        p: (items, {"events:0": 123}) for p, items in added.items()
    }
    assert batch.drain() == []  # drained: the next batch starts empty


def test_a_large_group_is_split_below_the_size_limit_and_only_its_last_part_reports_progress():
    limit = 2_000
    batch = RoutedBatch(max_bytes=limit)
    items = [("slow_checkout", f"s{n}", event(n, {"note": "x" * 150})) for n in range(40)]
    for detector, key, e in items:
        add(batch, 3, detector, key, e)

    messages = batch.drain({"events:1": 99})
    decoded = [decode_routed(value) for _, value in messages]

    assert len(messages) > 1
    assert all(partition == 3 for partition, _ in messages)
    assert all(len(value) <= limit + 100 for _, value in messages)
    assert [item for part, _ in decoded for item in part] == items
    # The progress vouches for every item before it: only the last part may carry it.
    assert [progress for _, progress in decoded] == [{}] * (len(decoded) - 1) + [{"events:1": 99}]


def test_a_progress_report_has_no_items() -> None:
    assert decode_routed(encode_progress({"a:0": 5, "b.c-d:12": 7})) == (
        [],
        {"a:0": 5, "b.c-d:12": 7},
    )


def test_an_input_source_names_its_topic_and_partition() -> None:
    source = input_source("friction-events.v2", 11)
    assert source == "friction-events.v2:11"
    assert source_topic(source) == "friction-events.v2"
