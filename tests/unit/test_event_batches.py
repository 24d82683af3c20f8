"""Batch messages: each element is decoded as a message of its own would be, a bad element is
bad alone, and a batch that cannot be read as a whole is one bad input."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from contract_stream import contract_only
from friction_detector.detectors.config import build_config
from friction_detector.detectors.events import (
    INVALID_JSON,
    INVALID_VALUE,
    MISSING_FIELD,
    NOT_OBJECT,
    TOO_DEEP,
    TOO_LARGE,
    BadInput,
    Event,
    EventDecoder,
)
from friction_detector.streams.event_batches import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    decode_message,
    element_position,
    encode_batch,
    is_batch,
)
from friction_detector.streams.kafka.batch_producer import DEFAULT_MAX_AGE_S, DEFAULT_MAX_EVENTS

T_MS = 1_795_342_503_120


@pytest.fixture(scope="module")
def decoder() -> EventDecoder:
    return build_config(contract_only({"engine": {"max_event_bytes": 400}})).decoder()


def load(event_id: str, **attrs) -> dict:
    return {"event_id": event_id, "type": "page_load", "time": T_MS, "session_id": "s-1",
            "attrs": {"page": "/checkout", "duration_ms": 5000, **attrs}}  # fmt: skip


def verdicts(decoder: EventDecoder, raw: bytes) -> list[tuple[int | None, Event | BadInput]]:
    return list(decode_message(decoder, raw))


def test_a_message_of_one_event_is_decoded_as_before(decoder):
    raw = orjson.dumps(load("e-1"))
    assert verdicts(decoder, raw) == [(None, decoder.decode(raw))]
    assert isinstance(decoder.decode(raw), Event)


def test_each_element_of_a_batch_is_the_event_it_would_be_alone(decoder):
    events = [load("e-1"), load("e-2"), load("e-3")]
    raw = encode_batch([orjson.dumps(e) for e in events])
    alone = [decoder.decode(orjson.dumps(e)) for e in events]
    assert verdicts(decoder, raw) == list(enumerate(alone))


def test_a_bad_element_is_bad_alone_with_its_index_and_its_own_text(decoder):
    no_duration = {**load("e-2"), "attrs": {"page": "/checkout"}}
    raw = orjson.dumps([load("e-1"), no_duration, 7, load("e-4", note="x" * 500)])
    got = verdicts(decoder, raw)
    assert [index for index, _ in got] == [0, 1, 2, 3]
    assert isinstance(got[0][1], Event)
    assert (got[1][1].reason, orjson.loads(got[1][1].raw)) == (MISSING_FIELD, no_duration)
    assert (got[2][1].reason, got[2][1].raw) == (NOT_OBJECT, b"7")
    # The element's own size counts against max_event_bytes, not the batch's.
    assert got[3][1].reason == TOO_LARGE


def test_leading_whitespace_still_makes_a_batch(decoder):
    raw = b" \n[" + orjson.dumps(load("e-1")) + b"]"
    assert is_batch(raw)
    [(index, event)] = verdicts(decoder, raw)
    assert index == 0 and isinstance(event, Event)
    assert not is_batch(b"") and not is_batch(b"  ") and not is_batch(b'{"a":[1]}')


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"[" + orjson.dumps(load("e-1")), INVALID_JSON),  # unclosed
        (b"[]", INVALID_VALUE),
        (b"[" + b",".join([b"{}"] * (MAX_BATCH_EVENTS + 1)) + b"]", TOO_LARGE),
        (b"[" + b" " * MAX_BATCH_BYTES + b"]", TOO_LARGE),
        (b"[" * 2000 + b"]" * 2000, TOO_DEEP),
    ],
    ids=["invalid-json", "empty", "too-many-events", "too-many-bytes", "too-deep"],
)
def test_a_batch_unreadable_as_a_whole_is_one_bad_input(decoder, raw, reason):
    [(index, bad)] = verdicts(decoder, raw)
    assert index is None
    assert isinstance(bad, BadInput) and bad.reason == reason and bad.raw == raw


def test_a_batch_of_exactly_the_limit_is_read():
    decoder = build_config(contract_only()).decoder()
    raw = encode_batch([orjson.dumps(load(f"e-{i}")) for i in range(MAX_BATCH_EVENTS)])
    got = verdicts(decoder, raw)
    assert len(got) == MAX_BATCH_EVENTS and all(isinstance(e, Event) for _, e in got)


def test_an_element_position_follows_its_message_position():
    assert element_position("3:1042", None) == "3:1042"
    assert element_position("3:1042", 0) == "3:1042[0]"
    assert element_position("3:1042", 17) == "3:1042[17]"


def test_the_event_reference_states_the_batch_limits_and_the_helpers_defaults():
    text = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
    section = text.split("## Batch messages\n", 1)[1].split("\n## ", 1)[0]
    figures = [
        f"{MAX_BATCH_EVENTS:,} events",
        f"{MAX_BATCH_BYTES:,} bytes",
        f"{DEFAULT_MAX_EVENTS} events",
        f"{DEFAULT_MAX_AGE_S * 1000:.0f} ms",
    ]
    assert [figure for figure in figures if figure not in section] == []
