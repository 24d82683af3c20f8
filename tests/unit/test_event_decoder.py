"""The decoder against the contract: every reason for bad input, and every accepted time form."""

from __future__ import annotations

import time

import orjson
import pytest
from contract_stream import contract_only
from friction_detector.detectors.config import build_config
from friction_detector.detectors.events import (
    FUTURE_TIME,
    INVALID_JSON,
    INVALID_VALUE,
    MISSING_FIELD,
    NOT_OBJECT,
    TOO_DEEP,
    TOO_LARGE,
    TOO_LONG,
    TOO_MANY_ATTRS,
    WRONG_TYPE,
    BadInput,
    Event,
    EventDecoder,
)
from friction_detector.detectors.schema import CONTRACT_TYPES

# 2026-11-22T10:15:03.120Z in epoch milliseconds.
T_MS = 1_795_342_503_120


@pytest.fixture(scope="module")
def decoder() -> EventDecoder:
    return build_config(contract_only()).decoder()


def doc(**overrides: object) -> dict:
    base = {
        "event_id": "e-1",
        "type": "page_load",
        "time": "2026-11-22T10:15:03.120Z",
        "user_id": "u-42",
        "session_id": "s-9",
        "attrs": {"page": "/checkout/payment", "duration_ms": 5230},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()


def decode(decoder: EventDecoder, document: object) -> Event | BadInput:
    return decoder.decode(orjson.dumps(document))


def reason_of(decoder: EventDecoder, document: object) -> str:
    result = decode(decoder, document)
    assert isinstance(result, BadInput), result
    return result.reason


def test_contract_example_decodes_to_event(decoder):
    event = decode(decoder, doc())
    assert event == Event(
        "e-1",
        "page_load",
        T_MS,
        "u-42",
        "s-9",
        {"page": "/checkout/payment", "duration_ms": 5230},
    )


def test_events_of_a_schema_type_carry_the_schemas_type_string(decoder):
    """One string per type, not a copy per message, on the fast path (with or without the
    compiled core) and the checked one; a type no schema names keeps its own."""
    (schema_type,) = (name for name in decoder.schemas if name == "page_load")
    usual = decode(decoder, doc())
    checked = decoder.decode_checked(orjson.dumps(doc()))
    by_python = decoder._accept(decoder._read_envelope(orjson.dumps(doc())), decoder._horizon_ms)
    assert usual.type is schema_type
    assert checked.type is schema_type
    assert by_python.type is schema_type
    unknown = decode(decoder, doc(type="custom_type", attrs={}))
    assert unknown.type == "custom_type"


def test_bad_input_keeps_raw_bytes_and_a_detail(decoder):
    raw = b'{"event_id": 1}'
    bad = decoder.decode(raw)
    assert isinstance(bad, BadInput)
    assert bad.raw == raw
    assert bad.detail


@pytest.mark.parametrize("raw", [b"{", b"not json", b'{"a": 1,}', b"\xff\xfe", b""])
def test_invalid_json_is_bad_input(decoder, raw):
    assert decoder.decode(raw).reason == INVALID_JSON


@pytest.mark.parametrize("raw", [b"[]", b"[1, 2]", b'"text"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_bad_input(decoder, raw):
    assert decoder.decode(raw).reason == NOT_OBJECT


@pytest.mark.parametrize("field", ["event_id", "type", "time"])
def test_absent_required_field_is_missing_field(decoder, field):
    bad = decode(decoder, doc(**{field: _DROP}))
    assert bad.reason == MISSING_FIELD
    assert field in bad.detail


@pytest.mark.parametrize("field", ["event_id", "type", "time"])
def test_null_required_field_is_missing_field(decoder, field):
    assert reason_of(decoder, doc(**{field: None})) == MISSING_FIELD


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", 7),
        ("event_id", ""),
        ("event_id", ["e-1"]),
        ("type", 3),
        ("type", ""),
        ("type", {"name": "page_load"}),
        ("time", 1.5),
        ("time", True),
        ("time", ["2026-11-22T10:15:03Z"]),
        ("time", {"ms": 1}),
        ("user_id", 42),
        ("user_id", ["u"]),
        ("session_id", 9),
        ("session_id", False),
        ("attrs", "page=/checkout"),
        ("attrs", [1, 2]),
    ],
)
def test_field_of_wrong_type_is_wrong_type(decoder, field, value):
    bad = decode(decoder, doc(**{field: value}))
    assert bad.reason == WRONG_TYPE
    assert field in bad.detail


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-11-22",
        "2026-13-01T00:00:00Z",
        "2026-11-22T25:00:00Z",
        "",
    ],
)
def test_unparseable_time_string_is_invalid_value(decoder, value):
    bad = decode(decoder, doc(time=value))
    assert bad.reason == INVALID_VALUE
    assert "time" in bad.detail


@pytest.mark.parametrize("value", ["2026-11-22T10:15:03", "2026-11-22T10:15:03.120"])
def test_time_without_zone_offset_is_invalid_value(decoder, value):
    assert reason_of(decoder, doc(time=value)) == INVALID_VALUE


@pytest.mark.parametrize(
    "value",
    [
        "2026-W47-7T10:15:03Z",  # ISO 8601 week date
        "20261122T101503Z",  # ISO 8601 basic format
        "2026-11-22T10:15Z",  # no seconds
        "2026-11-22T10:15:03+02",  # offset without minutes
        "2026-11-22T10:15:03,120Z",  # decimal comma
    ],
)
def test_iso_8601_time_that_is_not_rfc_3339_is_invalid_value(decoder, value):
    assert reason_of(decoder, doc(time=value)) == INVALID_VALUE


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-22T10:15:03.120Z", T_MS),
        ("2026-11-22T12:15:03.120+02:00", T_MS),
        ("2026-11-22T05:45:03.120-04:30", T_MS),
        ("2026-11-22T10:15:03.120+00:00", T_MS),
        ("2026-11-22T10:15:03Z", T_MS - 120),
        ("2026-11-22T10:15:03.1Z", T_MS - 20),
        ("2026-11-22T10:15:03.120999Z", T_MS),
        ("2026-11-22 10:15:03.120Z", T_MS),
        ("2026-11-22t10:15:03.120z", T_MS),
        (T_MS, T_MS),
        (0, 0),
    ],
)
def test_valid_times_decode_to_epoch_milliseconds(decoder, value, expected):
    assert decode(decoder, doc(time=value)).time == expected


def test_message_over_the_size_limit_is_too_large():
    decoder = build_config(contract_only({"engine": {"max_event_bytes": 200}})).decoder()
    event = doc()
    raw = orjson.dumps(event)
    padding = 200 - len(raw)
    event["attrs"]["note"] = "x" * (padding - len(',"note":""'))
    at_limit = orjson.dumps(event)
    assert len(at_limit) == 200
    assert isinstance(decoder.decode(at_limit), Event)
    event["attrs"]["note"] += "x"
    bad = decoder.decode(orjson.dumps(event))
    assert bad.reason == TOO_LARGE
    assert "201" in bad.detail


def test_default_size_limit_is_64_kib(decoder):
    event = doc()
    event["attrs"]["note"] = "x" * (64 * 1024)
    assert reason_of(decoder, event) == TOO_LARGE


def test_too_large_is_checked_before_json_parsing(decoder):
    assert decoder.decode(b"{" * (64 * 1024 + 1)).reason == TOO_LARGE


# -- attributes per contract type --------------------------------------------------------------

VALID_ATTRS = {
    "page_load": {"page": "/checkout", "duration_ms": 10},
    "form_submit": {"form_id": "signup", "outcome": "error", "error_fields": ["email"]},
    "password_reset_requested": {"request_id": "r-1"},
    "email_delivered": {"request_id": "r-1", "template": "password_reset"},
    "chat_started": {"conversation_id": "c-1", "queue": "billing"},
    "chat_message": {"conversation_id": "c-1", "author": "agent"},
    "chat_ended": {"conversation_id": "c-1"},
}


def test_every_contract_type_has_a_valid_example():
    assert set(VALID_ATTRS) == set(CONTRACT_TYPES)


@pytest.mark.parametrize("event_type", sorted(VALID_ATTRS))
def test_valid_attrs_of_each_contract_type_decode(decoder, event_type):
    event = decode(decoder, doc(type=event_type, attrs=VALID_ATTRS[event_type]))
    assert isinstance(event, Event)
    assert event.attrs == VALID_ATTRS[event_type]


REQUIRED_ATTRS = [
    (event_type, name)
    for event_type, rules in sorted(CONTRACT_TYPES.items())
    for name, rule in rules.items()
    if rule.required
]


@pytest.mark.parametrize(("event_type", "name"), REQUIRED_ATTRS)
def test_absent_required_attr_is_missing_field(decoder, event_type, name):
    attrs = {k: v for k, v in VALID_ATTRS[event_type].items() if k != name}
    bad = decode(decoder, doc(type=event_type, attrs=attrs))
    assert bad.reason == MISSING_FIELD
    assert f"attrs.{name}" in bad.detail


def test_event_of_consumed_type_without_attrs_is_missing_field(decoder):
    assert reason_of(decoder, doc(type="chat_ended", attrs=_DROP)) == MISSING_FIELD


@pytest.mark.parametrize(("event_type", "name"), [("form_submit", "error_fields")])
def test_absent_optional_attr_is_accepted(decoder, event_type, name):
    attrs = {k: v for k, v in VALID_ATTRS[event_type].items() if k != name}
    assert isinstance(decode(decoder, doc(type=event_type, attrs=attrs)), Event)


@pytest.mark.parametrize(
    ("event_type", "name", "value", "reason"),
    [
        ("page_load", "duration_ms", -1, INVALID_VALUE),
        ("page_load", "duration_ms", -0.5, INVALID_VALUE),
        ("page_load", "duration_ms", "5230", WRONG_TYPE),
        ("page_load", "duration_ms", True, WRONG_TYPE),
        ("page_load", "page", 5, WRONG_TYPE),
        ("page_load", "page", "", INVALID_VALUE),
        ("form_submit", "outcome", "maybe", INVALID_VALUE),
        ("form_submit", "outcome", "Success", INVALID_VALUE),
        ("form_submit", "outcome", 1, WRONG_TYPE),
        ("form_submit", "outcome", ["success"], WRONG_TYPE),
        ("form_submit", "outcome", {"value": "success"}, WRONG_TYPE),
        ("form_submit", "form_id", ["signup"], WRONG_TYPE),
        ("form_submit", "error_fields", "email", WRONG_TYPE),
        ("form_submit", "error_fields", ["email", 3], INVALID_VALUE),
        ("password_reset_requested", "request_id", 7, WRONG_TYPE),
        ("email_delivered", "request_id", {"id": "r-1"}, WRONG_TYPE),
        ("email_delivered", "template", 3, WRONG_TYPE),
        ("chat_started", "conversation_id", 1, WRONG_TYPE),
        ("chat_started", "queue", ["billing"], WRONG_TYPE),
        ("chat_message", "author", "system", INVALID_VALUE),
        ("chat_message", "author", "Agent", INVALID_VALUE),
        ("chat_message", "author", None, MISSING_FIELD),
        ("chat_message", "author", 2, WRONG_TYPE),
        ("chat_message", "author", ["agent"], WRONG_TYPE),
        ("chat_ended", "conversation_id", False, WRONG_TYPE),
    ],
)
def test_bad_attr_of_contract_type_is_rejected_with_reason(
    decoder, event_type, name, value, reason
):
    attrs = dict(VALID_ATTRS[event_type], **{name: value})
    bad = decode(decoder, doc(type=event_type, attrs=attrs))
    assert bad.reason == reason
    assert f"attrs.{name}" in bad.detail


def test_zero_duration_is_accepted(decoder):
    event = decode(decoder, doc(attrs={"page": "/checkout", "duration_ms": 0}))
    assert event.attrs["duration_ms"] == 0


def test_unknown_type_is_accepted_without_attr_checks(decoder):
    attrs = {"page": 5, "duration_ms": "slow", "anything": [1, {"x": None}]}
    event = decode(decoder, doc(type="button_click", attrs=attrs))
    assert isinstance(event, Event)
    assert event.type == "button_click"
    assert event.attrs == attrs


def test_unknown_type_without_attrs_gets_empty_attrs(decoder):
    event = decode(decoder, doc(type="heartbeat", attrs=_DROP, user_id=_DROP, session_id=_DROP))
    assert event == Event("e-1", "heartbeat", T_MS, None, None, {})


def test_extra_top_level_fields_are_ignored(decoder):
    assert isinstance(decode(decoder, doc(source="web", version=2)), Event)


@pytest.mark.parametrize("value", [10**18, -(10**18), 253_402_300_800_000])
def test_epoch_milliseconds_outside_the_calendar_are_invalid_value(decoder, value):
    # Such a time could never be written back as RFC 3339 in a finding.
    assert reason_of(decoder, doc(time=value)) == INVALID_VALUE


def test_last_millisecond_of_year_9999_is_accepted(decoder):
    # The parser's upper bound, read by a clock that has reached it.
    at_the_end = EventDecoder(decoder.schemas, now_ms=lambda: 253_402_300_799_999)
    assert decode(at_the_end, doc(time=253_402_300_799_999)).time == 253_402_300_799_999


# -- limits ------------------------------------------------------------------------------------


def nested_lists(levels: int) -> object:
    value: object = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def test_the_issue_example_nested_600_levels_is_too_deep(decoder):
    raw = (
        b'{"event_id":"d","type":"click","time":1790000000500,"session_id":"s","attrs":'
        b'{"target":"a","junk":' + b"[" * 600 + b"]" * 600 + b"}}"
    )
    bad = decoder.decode(raw)
    assert bad.reason == TOO_DEEP
    assert "32 levels" in bad.detail


def test_nesting_of_exactly_the_depth_limit_is_accepted(decoder):
    # The envelope is level 1, attrs level 2, and 30 lists make 32.
    document = doc(type="x", attrs={"junk": nested_lists(30)})
    assert isinstance(decode(decoder, document), Event)
    assert isinstance(decoder.from_object(document), Event)


def test_nesting_one_level_past_the_depth_limit_is_too_deep(decoder):
    assert reason_of(decoder, doc(type="x", attrs={"junk": nested_lists(31)})) == TOO_DEEP


def test_nesting_deeper_than_the_parser_allows_is_too_deep(decoder):
    raw = orjson.dumps(doc(type="x", attrs={"junk": "@"})).replace(
        b'"@"', b"[" * 1100 + b"]" * 1100
    )
    assert decoder.decode(raw).reason == TOO_DEEP


def test_brackets_inside_strings_are_not_nesting(decoder):
    event = decode(decoder, doc(type="x", attrs={"note": "[{" * 100}))
    assert isinstance(event, Event)


def test_depth_limit_is_checked_on_parsed_objects_too(decoder):
    bad = decoder.from_object(doc(type="x", attrs={"junk": nested_lists(31)}))
    assert bad.reason == TOO_DEEP


def test_configured_depth_limit_applies():
    decoder = build_config(contract_only({"engine": {"max_depth": 3}})).decoder()
    assert isinstance(decode(decoder, doc(type="x", attrs={"a": {"b": 1}})), Event)
    bad = decode(decoder, doc(type="x", attrs={"a": {"b": []}}))
    assert bad.reason == TOO_DEEP
    assert "3 levels" in bad.detail


def test_attrs_at_the_count_limit_are_accepted(decoder):
    attrs = {f"a{i}": i for i in range(64)}
    assert isinstance(decode(decoder, doc(type="x", attrs=attrs)), Event)


def test_attrs_over_the_count_limit_are_too_many_attrs(decoder):
    bad = decode(decoder, doc(type="x", attrs={f"a{i}": i for i in range(65)}))
    assert bad.reason == TOO_MANY_ATTRS
    assert "65" in bad.detail
    assert "limit 64" in bad.detail


def test_configured_attrs_limit_applies():
    decoder = build_config(contract_only({"engine": {"max_attrs": 2}})).decoder()
    assert isinstance(decode(decoder, doc()), Event)
    assert reason_of(decoder, doc(attrs={"page": "/p", "duration_ms": 1, "x": 0})) == TOO_MANY_ATTRS


def test_string_at_the_length_limit_is_accepted(decoder):
    assert isinstance(decode(decoder, doc(type="x", attrs={"note": "x" * 8192})), Event)


def test_string_limit_counts_characters_not_bytes(decoder):
    assert isinstance(decode(decoder, doc(type="x", attrs={"note": "é" * 8192})), Event)


@pytest.mark.parametrize(
    "attrs",
    [
        {"note": "x" * 8193},
        {"x" * 8193: 1},
        {"deep": [{"list": ["ok", "x" * 8193]}]},
    ],
    ids=["value", "key", "nested value"],
)
def test_string_or_key_over_the_length_limit_is_too_long(decoder, attrs):
    bad = decode(decoder, doc(type="x", attrs=attrs))
    assert bad.reason == TOO_LONG
    assert "8193 characters, limit 8192" in bad.detail


def test_long_string_outside_attrs_is_too_long(decoder):
    assert reason_of(decoder, doc(type="x" * 8193)) == TOO_LONG


def test_string_limit_is_checked_on_parsed_objects_too(decoder):
    assert decoder.from_object(doc(type="x", attrs={"note": "x" * 8193})).reason == TOO_LONG


@pytest.mark.parametrize("field", ["event_id", "user_id", "session_id"])
def test_id_at_256_characters_is_accepted(decoder, field):
    assert isinstance(decode(decoder, doc(**{field: "i" * 256})), Event)


@pytest.mark.parametrize("field", ["event_id", "user_id", "session_id"])
def test_id_over_256_characters_is_too_long(decoder, field):
    bad = decode(decoder, doc(**{field: "i" * 257}))
    assert bad.reason == TOO_LONG
    assert f"'{field}' is 257 characters, limit 256" in bad.detail


def clock_at(now_ms: int) -> EventDecoder:
    return EventDecoder(CONTRACT_TYPES, now_ms=lambda: now_ms)


def test_event_an_hour_ahead_of_the_wall_clock_is_accepted():
    event = decode(clock_at(T_MS), doc(time=T_MS + 3_600_000))
    assert isinstance(event, Event)


def test_event_more_than_an_hour_ahead_of_the_wall_clock_is_future_time():
    bad = decode(clock_at(T_MS), doc(time=T_MS + 3_600_001))
    assert bad.reason == FUTURE_TIME
    assert "limit of 3600000 ms" in bad.detail


def test_event_dated_9999_12_31_is_future_time(decoder):
    bad = decode(decoder, doc(time="9999-12-31T23:59:59.999Z"))
    assert bad.reason == FUTURE_TIME
    assert "9999-12-31T23:59:59.999Z" in bad.detail


def test_future_time_is_judged_by_the_clock_at_decode_time():
    now = [T_MS]
    decoder = EventDecoder(CONTRACT_TYPES, now_ms=lambda: now[0])
    two_hours_on = doc(time=T_MS + 2 * 3_600_000)
    assert reason_of(decoder, two_hours_on) == FUTURE_TIME
    now[0] += 3_600_000
    assert isinstance(decode(decoder, two_hours_on), Event)


def test_configured_future_limit_applies():
    decoder = build_config(contract_only({"engine": {"max_future_ms": 0}})).decoder()
    in_a_minute = time.time_ns() // 1_000_000 + 60_000
    assert reason_of(decoder, doc(time=in_a_minute)) == FUTURE_TIME
