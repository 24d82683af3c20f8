"""Stage 2 takes a routed message as stage 1 wrote it (`take_message`), in engine.py and in the
compiled core alike: the same findings as taking each decoded event by its route, items of a
detector the engine does not run skipped, a malformed message or item refused before any item
is taken. The core makes each item's Event only when it is applied (routed_message.rs)."""

from __future__ import annotations

import orjson
import pytest
from friction_detector.detectors.compiled import compiled
from friction_detector.detectors.engine import Engine, read_routed_message
from friction_detector.detectors.events import MAX_DEPTH_CEILING
from friction_detector.detectors.stored_core import StoredCoreEngine
from friction_detector.streams.worker.routing import RoutedBatch, encode_message, routed_items
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


def run_by_messages(engine, batches: list[list[bytes]]) -> list[dict]:
    found = []
    engine.expect_sources([SOURCE])
    for messages, reached in batches:
        for message in messages:
            latest, _ = engine.take_message(message)
            assert latest == max(item[2] for item in read_routed_message(message)[0])
        found += engine.advance_sources({SOURCE: reached}) + engine.take_findings()
    return [f.to_dict() for f in found]


def test_messages_taken_give_the_findings_of_each_event_taken_by_its_routes() -> None:
    events = decoded_corpus()
    router = Engine(every_builtin_detector())
    # The routed messages of one routed partition, per batch of 200 events, and the events'
    # routes to it, as stage 1 sends them.
    batches, routed = [], []
    partition = 1
    for first in range(0, len(events), 200):
        batch = RoutedBatch()
        for event in events[first : first + 200]:
            routes = dict(router.routes(event))
            for p, item in routed_items(event, list(routes.items()), PARTITIONS):
                if p == partition:
                    batch.add(p, item)
                    routed.append((event, routes_of(item, routes)))
        reached = events[first : first + 200][-1].time
        batches.append(([value for _, value in batch.drain()], reached))
    batches.append(([], events[-1].time + DAY_MS))  # past every deadline and waiting event
    assert len(routed) > 800

    expected_engine = Engine(every_builtin_detector(), store={}, **SETTINGS)
    expected_engine.expect_sources([SOURCE])
    expected, taken = [], 0
    for messages, reached in batches:
        n = sum(len(read_routed_message(m)[0]) for m in messages)
        for event, item_routes in routed[taken : taken + n]:
            expected_engine.take(event, item_routes)
        taken += n
        expected += expected_engine.advance_sources({SOURCE: reached})
        expected += expected_engine.take_findings()
    expected_found = [f.to_dict() for f in expected]
    assert expected_found

    for engine in engines():
        assert run_by_messages(engine, batches) == expected_found, type(engine).__name__


def routes_of(item: bytes, routes: dict) -> list:
    """The (detector, key) routes a routed item covers, of an event's `routes`."""
    names, key = orjson.loads(item)[:2]
    names = [names] if isinstance(names, str) else names
    return [(detector, key) for detector in routes if detector.name in names]


def test_items_of_a_detector_the_engine_does_not_run_are_skipped() -> None:
    event = decoded_corpus()[0]
    item = ["no_such_detector", "k", event.time, "e1", "t", None, None, {}]
    for engine in engines():
        assert engine.take_message(orjson.dumps({"items": [item]})) == (event.time, {})
        assert sum(engine.state_keys().values()) == 0


def test_an_item_naming_several_detectors_is_taken_as_one_item_for_each() -> None:
    """Stage 1 sends an event that detectors take with the same key as one item naming them:
    taken into each one's record, as the same event in one item per detector would be."""
    events = decoded_corpus()
    router = Engine(every_builtin_detector())
    separate, together = [], []
    for event in events:
        by_key: dict[str, list[str]] = {}
        for detector, key in router.routes(event):
            by_key.setdefault(key, []).append(detector.name)
        fields = [event.time, event.event_id, event.type, event.user_id, event.session_id]
        for key, names in by_key.items():
            separate += [[name, key, *fields, event.attrs] for name in names]
            together.append([names[0] if len(names) == 1 else names, key, *fields, event.attrs])
    assert len(together) < len(separate)  # some events go to several detectors by one key
    end = events[-1].time + DAY_MS
    for made in zip(engines(), engines(), strict=True):
        found = []
        for engine, items in zip(made, (separate, together), strict=True):
            engine.expect_sources([SOURCE])
            for first in range(0, len(items), 500):
                engine.take_message(orjson.dumps({"items": items[first : first + 500]}))
            found.append([f.to_dict() for f in engine.advance_sources({SOURCE: end})])
            assert engine.state_keys() == made[0].state_keys()
        assert found[0] and found[1] == found[0], type(made[0]).__name__


def test_a_detector_the_engine_does_not_run_is_skipped_among_several() -> None:
    event = decoded_corpus()[0]
    both = [["no_such_detector", "slow_checkout"], "s1", event.time, "e1", "page_load", None,
            "s1", {}]  # fmt: skip
    for engine in engines():
        assert engine.take_message(orjson.dumps({"items": [both]})) == (event.time, {})
        assert engine.state_keys()["slow_checkout"] == 1
        assert sum(engine.state_keys().values()) == 1


def test_a_name_with_an_escape_in_a_list_of_detectors_is_read_as_its_text() -> None:
    item = b'[["no_such_detector", "slow\\u005fcheckout"], "s1", 5, "e1", "page_load", null,'
    item += b' "s1", {}]'
    for engine in engines():
        assert engine.take_message(b'{"items": [' + item + b"]}") == (5, {})
        assert engine.state_keys()["slow_checkout"] == 1, type(engine).__name__


def good_item(time_ms: int) -> bytes:
    return orjson.dumps(["slow_checkout", "s1", time_ms, "e1", "page_load", None, "s1", {}])


@pytest.mark.parametrize(
    "bad",
    [
        b"[GOOD]",
        b"GOOD not json",
        b'{"items": [GOOD, ["slow_checkout", "s1", 5, "e2", "page_load", null, "s1"]]}',
        b'{"items": [GOOD, ["slow_checkout", "s1", 5.5, "e2", "page_load", null, "s1", {}]]}',
        b'{"items": [GOOD, ["slow_checkout", "s1", true, "e2", "page_load", null, "s1", {}]]}',
        b'{"items": [GOOD, ["slow_checkout", 7, 5, "e2", "page_load", null, "s1", {}]]}',
        b'{"items": [GOOD, ["slow_checkout", "s1", 5, "e2", "page_load", null, "s", [1e999]]]}',
        b'{"items": [GOOD, ["slow_checkout", "s1", 5, "e2", "page_load", null, "s", "\\ud800"]]}',
        b'{"items": [GOOD], "progress": {"clicks:0": "soon"}}',
        b'{"items": [GOOD, [[], "s1", 5, "e2", "page_load", null, "s1", {}]]}',
        b'{"items": [GOOD, [["slow_checkout", 7], "s1", 5, "e2", "page_load", null, "s1", {}]]}',
        b'{"items": [GOOD, [["a", "b", "a"], "s1", 5, "e2", "page_load", null, "s1", {}]]}',
    ],
    ids=[
        "array",
        "not-json",
        "seven-fields",
        "float-time",
        "bool-time",
        "number-key",
        "infinite-number",
        "lone-surrogate",
        "progress-not-ms",
        "no-detector",
        "number-detector",
        "detector-twice",
    ],  # fmt: skip
)
def test_a_message_not_as_stage_1_writes_it_is_refused_before_any_item_is_taken(bad) -> None:
    # With a good item first: refused with the message, none of it taken.
    message = bad.replace(b"GOOD", good_item(5))
    for engine in engines():  # the good item alone is taken
        engine.take_message(b'{"items": [' + good_item(5) + b"]}")
        assert sum(engine.state_keys().values()) == 1
    for engine in engines():
        with pytest.raises(ValueError):
            engine.take_message(message)
        assert sum(engine.state_keys().values()) == 0, type(engine).__name__


def test_a_message_without_items_or_progress_takes_nothing() -> None:
    for engine in engines():
        for message in (b"{}", b'{"items": null, "progress": null}', encode_message([])):
            assert engine.take_message(message) == (None, {})
        assert sum(engine.state_keys().values()) == 0


def test_the_items_of_every_partition_together_are_every_route() -> None:
    events = decoded_corpus()[:2000]
    router = Engine(every_builtin_detector())
    routes = sorted((detector.name, key) for event in events
                    for detector, key in router.routes(event))  # fmt: skip
    batch = RoutedBatch()
    for event in events:
        for p, item in routed_items(event, router.routes(event), PARTITIONS):
            batch.add(p, item)
    read = [item for _, value in batch.drain() for item in read_routed_message(value)[0]]
    named = [(name, item[1]) for item in read
             for name in ([item[0]] if isinstance(item[0], str) else item[0])]  # fmt: skip
    assert len(read) < len(named)  # a session's clicks: one item for both click detectors
    assert sorted(named) == routes


def test_a_late_item_is_applied_at_once() -> None:
    for engine in engines():
        engine.expect_sources([SOURCE])
        engine.advance_sources({SOURCE: 10 * LATENESS_MS})
        engine.take_message(b'{"items": [' + good_item(LATENESS_MS) + b"]}")
        assert engine.queued() == 0, type(engine).__name__
        assert sum(engine.state_keys().values()) == 1


def test_an_item_of_the_deepest_event_the_decoder_accepts_is_taken() -> None:
    """An event nested to the decoder's `max_depth` ceiling (128 levels, the event object one)
    is two levels deeper in its routed message: beyond serde_json's own limit, read all the
    same, and its Event made as engine.py makes it."""
    nested: object = 0
    for _ in range(MAX_DEPTH_CEILING - 2):  # attributes are level 2, these lists 3 to 128
        nested = [nested]
    item = ["slow_checkout", "s1", 5, "e1", "page_load", None, "s1", {"deep": nested}]
    message = orjson.dumps({"items": [item]})
    for engine in engines():
        assert engine.take_message(message) == (5, {}), type(engine).__name__
        assert sum(engine.state_keys().values()) == 1


def test_a_message_nested_deeper_than_any_event_is_refused() -> None:
    deep = b"[" * 10_000 + b"0" + b"]" * 10_000  # beyond what either reader recurses into
    message = b'{"items": [["slow_checkout", "s1", 5, "e1", "page_load", null, "s1", '
    message += b'{"deep": ' + deep + b"}]]}"
    for engine in engines():
        with pytest.raises(ValueError):
            engine.take_message(message)
        assert sum(engine.state_keys().values()) == 0
