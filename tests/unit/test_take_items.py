"""Stage 2 takes a routed message's items as stage 1 encoded them (`take_items`), in engine.py
and in the compiled core alike: the same findings as taking each decoded event by its route,
items of a detector the engine does not run skipped, a malformed item refused."""

from __future__ import annotations

import pytest
from friction_detector.detectors.compiled import compiled
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.stored_core import StoredCoreEngine
from friction_detector.streams.worker.routing import RoutedBatch, read_routed, routed_items
from test_compiled_engine import LATENESS_MS, decoded_corpus, every_builtin_detector

PARTITIONS = 4
DAY_MS = 86_400_000
HORIZON_MS = 15 * 60_000
SETTINGS = {"allowed_lateness_ms": LATENESS_MS, "dedup_horizon_ms": HORIZON_MS}
SOURCE = "clicks:0"


def engines() -> list:
    made = [Engine(every_builtin_detector(), store={}, **SETTINGS)]
    if compiled():
        made.append(StoredCoreEngine(every_builtin_detector(), store={}, **SETTINGS))
    return made


def run_by_items(engine, batches: list[list[bytes]]) -> list[dict]:
    found = []
    engine.expect_sources([SOURCE])
    for messages, reached in batches:
        for message in messages:
            items, _ = read_routed(message)
            engine.take_items(items)
        found += engine.advance_sources({SOURCE: reached}) + engine.take_findings()
    return [f.to_dict() for f in found]


def test_items_taken_as_routed_give_the_findings_of_each_event_taken_by_its_routes() -> None:
    events = decoded_corpus()
    router = Engine(every_builtin_detector())
    # The routed messages of one routed partition, per batch of 200 events, and the events'
    # routes to it, as stage 1 sends them.
    batches, routed = [], []
    partition = 1
    for first in range(0, len(events), 200):
        batch = RoutedBatch()
        for event in events[first : first + 200]:
            routes = router.routes(event)
            items = routed_items(event, routes, PARTITIONS)
            for (p, item), route in zip(items, routes, strict=True):
                if p == partition:
                    batch.add(p, item)
                    routed.append((event, route))
        reached = events[first : first + 200][-1].time
        batches.append(([value for _, value in batch.drain()], reached))
    batches.append(([], events[-1].time + DAY_MS))  # past every deadline and waiting event
    assert len(routed) > 1000

    expected_engine = Engine(every_builtin_detector(), store={}, **SETTINGS)
    expected_engine.expect_sources([SOURCE])
    expected, taken = [], 0
    for messages, reached in batches:
        n = sum(len(read_routed(m)[0]) for m in messages)
        for event, route in routed[taken : taken + n]:
            expected_engine.take(event, (route,))
        taken += n
        expected += expected_engine.advance_sources({SOURCE: reached})
        expected += expected_engine.take_findings()
    expected_found = [f.to_dict() for f in expected]
    assert expected_found

    for engine in engines():
        assert run_by_items(engine, batches) == expected_found, type(engine).__name__


def test_items_of_a_detector_the_engine_does_not_run_are_skipped_and_bad_ones_refused() -> None:
    event = decoded_corpus()[0]
    for engine in engines():
        engine.take_items([["no_such_detector", "k", event.time, "e1", "t", None, None, {}]])
        assert sum(engine.state_keys().values()) == 0
        with pytest.raises((ValueError, TypeError)):
            engine.take_items([["slow_checkout", "k", event.time, "e1", "t", None, None]])


def test_the_items_of_every_partition_together_are_every_route() -> None:
    events = decoded_corpus()[:2000]
    router = Engine(every_builtin_detector())
    routes = sorted((detector.name, key) for event in events
                    for detector, key in router.routes(event))  # fmt: skip
    batch = RoutedBatch()
    for event in events:
        for p, item in routed_items(event, router.routes(event), PARTITIONS):
            batch.add(p, item)
    read = [item for _, value in batch.drain() for item in read_routed(value)[0]]
    assert sorted((item[0], item[1]) for item in read) == routes
