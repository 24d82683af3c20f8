"""Routed messages carry a batch's items per partition, in order, with the input partitions'
progress, and read back as events; the compiled core makes each event's items and their
partitions as the Python code does."""

from __future__ import annotations

import orjson
import pytest
from friction_detector.detectors.compiled import compiled
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.events import Event
from friction_detector.detectors.observer import EngineObserver
from friction_detector.streams.kafka.topics import partition_for
from friction_detector.streams.sources import input_source, source_topic
from friction_detector.streams.worker import routing
from friction_detector.streams.worker.routing import (
    RoutedBatch,
    decode_routed,
    encode_item,
    encode_progress,
    event_router,
    routed_items,
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


@pytest.mark.parametrize("partitions", [1, 2, 4, 12, 64])
def test_one_routed_message_per_partition_fits_one_produce_request_below_a_humongous_buffer(
    partitions: int,
) -> None:
    """A batch's routed messages, one per partition, go out as one produce request: cut so
    that the request stays below half a G1 region of a small broker heap (512 KiB)."""
    limit = routing.routed_message_bytes(partitions)
    assert routing.MIN_ROUTED_MESSAGE_BYTES <= limit <= routing.ROUTED_MESSAGE_BYTES
    if limit > routing.MIN_ROUTED_MESSAGE_BYTES:
        assert partitions * limit <= routing.PRODUCE_REQUEST_BYTES < 512 * 1024
    batch = RoutedBatch(max_bytes=limit)
    for n in range(3_000):
        add(batch, n % partitions, "slow_checkout", f"s{n}", event(n, {"note": "x" * 200}))
    assert all(len(value) <= limit + 1_000 for _, value in batch.drain({"events:0": 1}))


def test_a_progress_report_has_no_items() -> None:
    assert decode_routed(encode_progress({"a:0": 5, "b.c-d:12": 7})) == (
        [],
        {"a:0": 5, "b.c-d:12": 7},
    )


def test_an_input_source_names_its_topic_and_partition() -> None:
    source = input_source("friction-events.v2", 11)
    assert source == "friction-events.v2:11"
    assert source_topic(source) == "friction-events.v2"


class Reports(EngineObserver):
    """The detector errors a router reports, as (detector, event id, error)."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str, str]] = []

    def on_detector_error(self, detector: str, event: Event | None, error: Exception) -> None:
        self.errors.append((detector, event.event_id if event else "", repr(error)))


def routers(detectors: list, partitions: int, monkeypatch) -> list[tuple[Reports, object]]:
    """Stage 1's router on the compiled core and on Python (the core taken away), each with
    its own observer."""
    made = []
    for core in (routing._core, None):
        with monkeypatch.context() as patched:
            patched.setattr(routing, "_core", core)
            reports = Reports()
            made.append((reports, event_router(detectors, reports, partitions)))
    return made


@pytest.mark.skipif(not compiled(), reason="the compiled core is not built")
def test_the_core_router_asks_the_detectors_and_makes_the_items_python_makes(monkeypatch):
    from test_compiled_engine import decoded_corpus, every_builtin_detector
    from test_core_serialized import with_odd_values

    events = decoded_corpus()
    events = events[:5000] + with_odd_values(events[5000:8000])
    detectors = every_builtin_detector()
    router = Engine(detectors)
    for partitions in (1, 4, 7):
        (_, core), (_, python) = routers(detectors, partitions, monkeypatch)
        made = [core(e) for e in events]
        assert sum(len(items) for items in made) > 3000
        names = [orjson.loads(item)[0] for items in made for _, item in items]
        assert ["error_click", "rage_click"] in names  # a session's clicks: one item for both
        assert made == [python(e) for e in events]
        assert made == [routed_items(e, router.routes(e), partitions) for e in events]


@pytest.mark.skipif(not compiled(), reason="the compiled core is not built")
def test_a_detector_whose_key_raised_is_reported_and_left_out_by_both_routers(monkeypatch):
    from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
    from test_compiled_engine import SLOW_PAY, T0, Erratic

    events = [Event(f"e-{i:02d}", "page_load", T0 + i, "u-1", f"s-{i % 3}", SLOW_PAY)
              for i in range(30)]  # fmt: skip
    (core_reports, core), (python_reports, python) = routers(
        [Erratic(), SlowCheckout()], 4, monkeypatch
    )
    made = [core(e) for e in events]

    assert made == [python(e) for e in events]
    raised = [e.event_id for e in events if e.event_id.endswith("7")]
    assert [(d, i) for d, i, _ in core_reports.errors] == [("erratic", i) for i in raised]
    assert core_reports.errors == python_reports.errors
    # The event still goes to the detectors whose keys it has.
    by_id = dict(zip([e.event_id for e in events], made, strict=True))
    assert all(len(by_id[i]) == 1 for i in raised)
    assert all(len(items) == 2 for i, items in by_id.items() if i not in raised)


@pytest.mark.skipif(not compiled(), reason="the compiled core is not built")
def test_a_key_that_is_not_text_or_an_attribute_refused_fails_the_event_in_both_routers(
    monkeypatch,
):
    from test_compiled_engine import SLOW_PAY, T0, Erratic

    class NumberKeys(Erratic):
        def key(self, event: Event) -> str | None:
            return 42  # type: ignore[return-value]

    odd = Event("e-1", "page_load", T0, "u-1", "s-1", SLOW_PAY)
    refused = Event("e-1", "page_load", T0, "u-1", "s-1", {**SLOW_PAY, "x": object()})
    for _, route in routers([NumberKeys()], 4, monkeypatch):
        with pytest.raises(TypeError):
            route(odd)
    for _, route in routers([Erratic()], 4, monkeypatch):
        with pytest.raises(TypeError):  # an attribute orjson refuses
            route(refused)


def test_an_event_a_key_spaces_detectors_take_by_one_key_is_one_item_at_that_keys_partition():
    """rage_click and error_click key by session (key space "session"): a click goes to both as
    one item, a js_error to error_click alone, both at the partition of `session/<key>`, where
    the session's records of both live; a detector without a key space keeps its own."""
    from friction_detector.detectors.builtin.error_click import ErrorClick
    from friction_detector.detectors.builtin.rage_click import RageClick
    from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
    from test_compiled_engine import SLOW_PAY, T0

    detectors = [SlowCheckout(), RageClick(), ErrorClick()]
    router = Engine(detectors)
    click = Event("e-1", "click", T0, "u-1", "s-1", {"target": "#pay", "page": "/checkout"})
    error = Event("e-2", "js_error", T0 + 5, "u-1", "s-1", {"message": "x", "page": "/checkout"})
    load = Event("e-3", "page_load", T0 + 9, "u-1", "s-1", SLOW_PAY)
    session = partition_for(b"session/s-1", 16)

    def read(event: Event) -> list[tuple[int, object]]:
        items = routed_items(event, router.routes(event), 16)
        return [(p, orjson.loads(item)[0]) for p, item in items]

    assert read(click) == [(session, ["rage_click", "error_click"])]
    assert read(error) == [(session, "error_click")]
    assert read(load) == [(partition_for(b"slow_checkout/s-1", 16), "slow_checkout")]
