"""The compiled core writes its changed records' changelog bytes itself
(`take_changed_serialized`), as the worker's changelog serializes records as plain data.

The worker's changelog holds each key's record as Faust's "json" codec writes it; a partition is
recovered from those bytes. The core writes them straight from its Rust values, so they must be
the very bytes the changelog's serializer gives for the core's own plain record
(`take_changed`), including the text, numbers and attributes events can carry that the corpus
does not (escapes, control characters, non-ASCII text, floats, booleans, numbers past 64 bits,
nested attributes, tuples, keys that are not text); and after every batch of the replay corpus
they must read back as the records engine.py writes (the same document: engine.py's dict keeps
`o` and `j` in the order they were opened, the core writes `o` first).
"""

from __future__ import annotations

import orjson
import pytest
from friction_detector.detectors.compiled import compiled, tracking_engine
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.events import Event
from friction_detector.streams.worker.faust_internals import changelog_json
from test_compiled_engine import LATENESS_MS, decoded_corpus, every_builtin_detector
from test_core_changes import SOURCES, WrittenBack, source_of

pytestmark = pytest.mark.skipif(not compiled(), reason="the compiled core is not built")


@pytest.mark.parametrize("batch", [7, 250])
def test_after_every_batch_the_core_writes_engine_py_s_records(batch: int) -> None:
    events = decoded_corpus()
    store = WrittenBack()
    reference = Engine(every_builtin_detector(), allowed_lateness_ms=LATENESS_MS, store=store)
    core = tracking_engine(every_builtin_detector(), allowed_lateness_ms=LATENESS_MS)
    for engine in (reference, core):
        engine.expect_sources(SOURCES)
    compared = forgotten = 0
    for first in range(0, len(events), batch):
        for event in events[first : first + batch]:
            reference.process_from(source_of(event), event)
            core.process_from(source_of(event), event)
        written = {skey: None if record is None else orjson.loads(changelog_json(record))
                   for skey, record in store.take_written().items()}  # fmt: skip
        got = {skey: None if payload is None else orjson.loads(payload)
               for skey, payload in core.take_changed_serialized(changelog_json)}  # fmt: skip
        assert got == written
        compared += len(written)
        forgotten += sum(record is None for record in written.values())
    assert compared > 1000
    assert forgotten > 0


def deep(levels: int) -> dict:
    """Dicts and lists nested `levels` deep: past what the core writes itself."""
    value: dict = {"end": 1.5}
    for level in range(levels):
        value = {"in": [value]} if level % 2 else {"in": value}
    return value


ODD_TEXT = [
    'quote " and backslash \\ ',
    "".join(chr(code) for code in range(0x20)) + "\x7f",
    "non-ASCII: é \u2028 😀",
    "",
]
ODD_ATTRS = [
    {"amount": 12.5, "tiny": 1e-9, "huge": 1e21, "whole_float": 3.0},
    {"flag": True, "off": False, "none": None, "neg": -7, "min": -(2**63), "max": 2**63 - 1},
    {"past_64_bits": 2**64 - 1, "nested": {"list": [1, "two", {"three": [None]}]}},
    {ODD_TEXT[0]: ODD_TEXT[1], ODD_TEXT[2]: [ODD_TEXT[2]]},
    {"deep": deep(40), "tuple": (1, "two"), "keys": {7: "a number as a key", "text": 1}},
]


def with_odd_values(events: list[Event]) -> list[Event]:
    odd = []
    for n, event in enumerate(events):
        text = ODD_TEXT[n % len(ODD_TEXT)]
        odd.append(event._replace(
            event_id=f"{event.event_id}{text}",
            attrs={**event.attrs, **ODD_ATTRS[n % len(ODD_ATTRS)]},
        ))  # fmt: skip
    return odd


def test_odd_text_and_numbers_are_written_as_the_changelog_serializes_them() -> None:
    events = with_odd_values(decoded_corpus()[:3000])
    plain = tracking_engine(every_builtin_detector(), allowed_lateness_ms=LATENESS_MS)
    serialized = tracking_engine(every_builtin_detector(), allowed_lateness_ms=LATENESS_MS)
    waiting = 0
    for first in range(0, len(events), 100):
        for event in events[first : first + 100]:
            plain.process_from(source_of(event), event)
            serialized.process_from(source_of(event), event)
        expected = {skey: None if record is None else changelog_json(record)
                    for skey, record in plain.take_changed()}  # fmt: skip
        got = dict(serialized.take_changed_serialized(changelog_json))
        assert got == expected
        waiting += sum(len(orjson.loads(payload)["p"]) for payload in got.values() if payload)
    assert waiting > 100  # waiting events, with their odd fields, were written


def test_a_value_the_serializer_refuses_fails_the_call() -> None:
    core = tracking_engine(every_builtin_detector(), allowed_lateness_ms=LATENESS_MS)
    for event in decoded_corpus()[:50]:
        core.process_from(source_of(event), event._replace(attrs={"x": object()}))
    with pytest.raises(TypeError):
        core.take_changed_serialized(changelog_json)
