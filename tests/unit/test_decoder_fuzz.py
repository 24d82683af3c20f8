"""Whatever arrives, the decoder answers with an event or a reason, and what it accepts goes on.

Bad input must never stop a worker: not in the decoder, not when stage 1 re-encodes an accepted
event, not when a dead letter is written.
"""

from __future__ import annotations

import json

import msgspec
import orjson
import pytest
from friction_detector.detectors.compiled import compiled
from friction_detector.detectors.config import build_config
from friction_detector.detectors.events import BAD_INPUT_REASONS, BadInput, Event, EventDecoder
from friction_detector.streams.dead_letter import (
    DEAD_LETTER_MAX_BYTES,
    dead_letter_record,
    detector_error_input,
)
from friction_detector.streams.worker.routing import encode_item
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

NOW_MS = 1_795_342_503_120  # 2026-11-22T10:15:03.120Z
DECODER = EventDecoder(build_config({}).decoder().schemas, now_ms=lambda: NOW_MS)
EVENT_TYPES = sorted(DECODER.schemas) + ["unknown_type"]
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),  # beyond 64 bits both ways
    st.floats(),  # NaN and Infinity become bare literals, which JSON does not have
    st.text(),  # lone surrogates included
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)
# The names the rules check, as often as any other: a rule must answer any value, not raise.
RULED_NAMES = sorted({name for rules in DECODER.schemas.values() for name in rules})
attrs_values = st.dictionaries(
    st.sampled_from(RULED_NAMES) | st.text(max_size=20), json_values, max_size=8
)
utf8_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=50)
# What a careful producer sends: no NaN, 64-bit integers, UTF-8 text. The decoder accepts most.
valid_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | utf8_text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(utf8_text, inner, max_size=5),
    max_leaves=30,
)
times = st.one_of(
    st.integers(min_value=NOW_MS - 10**9, max_value=NOW_MS + 10**8),
    st.integers(),
    st.sampled_from(["2026-11-22T10:15:03.120Z", "9999-12-31T23:59:59.999Z", "2026-11-22"]),
)


@st.composite
def envelopes(draw: st.DrawFn, attrs: st.SearchStrategy = attrs_values) -> dict:
    """A contract envelope around fuzzed attrs, with now and then a field broken or missing."""
    doc = {
        "event_id": draw(st.text(min_size=1, max_size=300)),
        "type": draw(st.sampled_from(EVENT_TYPES)),
        "time": draw(times),
        "user_id": draw(st.none() | st.text(max_size=300)),
        "session_id": draw(st.none() | st.text(max_size=300)),
        "attrs": draw(attrs),
    }
    for field in draw(st.lists(st.sampled_from(sorted(doc)), max_size=2)):
        doc[field] = draw(json_values)
    return doc


def to_bytes(doc: object, ascii_only: bool) -> bytes:
    """JSON as a careless producer writes it: big ints, NaN, and lone surrogates as bad UTF-8."""
    return json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", errors="surrogatepass")


PLACEHOLDER = "fuzz-placeholder-7f3a"


def nested(levels: int, as_object: bool) -> bytes:
    """A number inside `levels` lists or objects, as JSON."""
    if as_object:
        return b'{"a":' * levels + b"1" + b"}" * levels
    return b"[" * levels + b"1" + b"]" * levels


def with_raw_attr(doc: dict, value: bytes) -> bytes:
    """`doc` with an attrs entry whose JSON is spliced in as bytes, however deep it nests."""
    doc = dict(doc, attrs={"target": "a", "junk": PLACEHOLDER})
    return to_bytes(doc, ascii_only=True).replace(f'"{PLACEHOLDER}"'.encode(), value, 1)


def as_checked(raw: bytes) -> Event | BadInput:
    """The decoder's answer, which the checked path alone gives too, to the type of each value."""
    result = DECODER.decode(raw)
    checked = DECODER.decode_checked(raw)
    envelope = read_envelope(raw)
    if envelope is not None:  # the fast path's rules, compiled or not, answer alike
        horizon = DECODER._horizon_ms
        assert DECODER._accept_usual(envelope, horizon) == DECODER._accept(envelope, horizon)
    if type(result) is Event and type(checked) is Event:
        assert orjson.dumps(list(result)) == orjson.dumps(list(checked))  # 1 is not 1.0 here
        assert list(result.attrs) == list(checked.attrs)
    assert result == checked
    return result


def read_envelope(raw: bytes) -> object | None:
    """msgspec's reading of the envelope, as the fast path gets it, or None."""
    read = DECODER._read_envelope
    assert read is not None
    try:
        return read(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def assert_handled(raw: bytes) -> Event | BadInput:
    """The decoder's answer, after checking that everything downstream of it takes it."""
    result = as_checked(raw)
    assert type(result) in (Event, BadInput)
    if type(result) is Event:
        encode_item("detector", "key", result)
        letter = dead_letter_record(detector_error_input("detector", result, ValueError()), "t", 1)
    else:
        assert result.reason in BAD_INPUT_REASONS
        assert result.raw == raw
        letter = dead_letter_record(result, "topic", "0:1")
    assert len(letter) <= DEAD_LETTER_MAX_BYTES
    orjson.loads(letter)
    return result


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_are_handled(raw):
    assert_handled(raw)


@FUZZ
@given(json_values, st.booleans())
def test_random_json_documents_are_handled(doc, ascii_only):
    assert_handled(to_bytes(doc, ascii_only))


@FUZZ
@given(envelopes(), st.booleans())
def test_envelopes_with_random_attrs_are_handled(doc, ascii_only):
    assert_handled(to_bytes(doc, ascii_only))


@FUZZ
@given(
    envelopes(attrs=st.just({})),
    st.one_of(st.integers(min_value=25, max_value=40), st.integers(min_value=0, max_value=1100)),
    st.booleans(),
)
def test_nesting_of_any_depth_in_attrs_is_handled(doc, levels, as_object):
    assert_handled(with_raw_attr(doc, nested(levels, as_object)))


@FUZZ
@given(
    envelopes(attrs=st.just({})),
    st.one_of(
        st.integers(min_value=8180, max_value=8200), st.integers(min_value=0, max_value=70_000)
    ),
    st.booleans(),
)
def test_strings_of_any_length_are_handled(doc, length, ascii_only):
    assert_handled(to_bytes(dict(doc, attrs={"note": "\u00e9" * length}), ascii_only))


@FUZZ
@given(envelopes(attrs=st.just({})), st.integers(min_value=0, max_value=200))
def test_any_number_of_attrs_is_handled(doc, count):
    assert_handled(to_bytes(dict(doc, attrs={f"a{i}": i for i in range(count)}), True))


@FUZZ
@given(envelopes(attrs=st.just({})), st.binary(min_size=1, max_size=200))
def test_non_utf8_bytes_in_a_string_are_handled(doc, junk):
    assert_handled(with_raw_attr(doc, b'"' + junk.replace(b'"', b"") + b'"'))


@FUZZ
@given(envelopes(attrs=st.just({})), st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e400"]))
def test_non_finite_number_literals_are_invalid_json(doc, literal):
    assert assert_handled(with_raw_attr(doc, literal)).reason == "invalid_json"


@FUZZ
@given(
    utf8_text.filter(bool),
    st.integers(min_value=NOW_MS - 10**9, max_value=NOW_MS),
    st.dictionaries(utf8_text, valid_json_values, max_size=8),
    st.one_of(st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=1100)),
)
def test_any_event_the_decoder_accepts_can_be_routed(event_id, time_ms, attrs, levels):
    doc = {"event_id": event_id, "type": "unknown_type", "time": time_ms, "attrs": attrs}
    attrs["deep"] = PLACEHOLDER
    deep = nested(levels, as_object=levels % 2 == 1)
    raw = orjson.dumps(doc).replace(f'"{PLACEHOLDER}"'.encode(), deep, 1)
    result = DECODER.decode(raw)
    event(type(result).__name__ if type(result) is Event else result.reason)
    if type(result) is Event:
        assert orjson.loads(encode_item("detector", "key", result))[-1] == result.attrs


@pytest.mark.parametrize(
    "attrs",
    [
        b'{"target": "a", "n": 9223372036854775807}',
        b'{"target": "a", "n": 9223372036854775808}',  # beyond int64: orjson's own reading
        b'{"target": "a", "n": 18446744073709551616}',  # beyond 64 bits: a float
        b'{"target": "a", "n": -9223372036854775809}',
        b'{"target": "a", "n": 1e400}',
        b'{"target": "a", "n": -0, "f": -0.0, "g": 1E2, "h": 5e-324}',
        b'{"target": "a", "n": 1, "m": 2, "n": 3}',  # a repeated key: the last value wins
        b'{"target": "b", "target": "a"}',
        b'{"target": "a", "l": [1, "x", null, true, 2.5], "o": {"k": [1]}}',
        b'{"target": "a", "l": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}',
        b'{"target": "a", "l": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}',
        b'{"target": "' + b"x" * 8192 + b'"}',
        b'{"target": "' + b"x" * 8193 + b'"}',
        b'{"target": "a", "' + b"k" * 8193 + b'": 1}',
        b'{"target": "\\u00e9\\ud83d\\ude00"}',
        b'{"target": "\\ud800"}',
        b'{"target": "a"} ',
        b'{"target": "a"}, "extra": 1',
        b'{"target": 1}',
        b"[]",
        b"null",
    ],
)
@pytest.mark.parametrize(
    "envelope",
    [
        b'{"event_id": "e-1", "type": "click", "time": "2026-11-22T10:00:00.000Z", "attrs": %s}',
        b'{"event_id": "e-1", "type": "click", "time": 1795340000, "user_id": null, "attrs": %s}',
        b'{"event_id": "e-1", "type": "click", "time": 1795340000000, "v": 2, "attrs": %s}',
        b'{"attrs": %s, "type": "nobody_reads", "event_id": "e-1", "time": 1795340000000}',
    ],
)
def test_the_fast_path_gives_what_the_checked_path_gives(envelope, attrs):
    """msgspec and orjson read numbers, repeated keys, nesting and long strings alike."""
    as_checked(envelope % attrs)


def test_a_usual_event_takes_the_fast_path():
    """The comparisons above would pass if msgspec never answered: it does, for the usual."""
    raw = b'{"event_id": "e-1", "type": "click", "time": 1795340000000, "attrs": {"target": "a"}}'
    envelope = read_envelope(raw)
    assert envelope is not None
    assert DECODER._accept(envelope, DECODER._horizon_ms) == DECODER.decode(raw)
    accepted = DECODER._accept_usual(envelope, DECODER._horizon_ms)
    assert accepted == DECODER.decode(raw)
    assert type(accepted) is Event  # the core builds the Event itself, not a plain tuple
    assert accepted.attrs == {"target": "a"} and accepted.time == 1795340000000
    if compiled():
        assert DECODER._accept_usual != DECODER._accept  # the core's rules, under test above


@pytest.mark.skipif(not compiled(), reason="the compiled core is not built")
# A tuple subclass without `__slots__ = ()` has a `__dict__`: a field of its own.
@pytest.mark.parametrize("event_class", [list, dict, type("WithDict", (tuple,), {})])
def test_the_core_builds_events_only_of_a_tuple_class_without_fields_of_its_own(event_class):
    """The core fills the class's instances as tuples: anything else is refused when the
    decoder is made, not misbuilt per message."""
    from friction_detector.detectors._core import UsualEvents

    assert UsualEvents({}, 8, Event, lambda value: None)  # a NamedTuple is such a class
    with pytest.raises(TypeError, match="not a tuple class"):
        UsualEvents({}, 8, event_class, lambda value: None)
