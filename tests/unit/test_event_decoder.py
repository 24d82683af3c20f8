"""The decoder against the contract: every reason for bad input, and every accepted time form."""

from __future__ import annotations

import orjson
import pytest
from contract_stream import contract_only

from detectors.config import build_config
from detectors.events import (
    INVALID_JSON,
    INVALID_VALUE,
    MISSING_FIELD,
    NOT_OBJECT,
    TOO_LARGE,
    WRONG_TYPE,
    BadInput,
    Event,
    EventDecoder,
)
from detectors.schema import CONTRACT_TYPES

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
    assert decode(decoder, doc(time=253_402_300_799_999)).time == 253_402_300_799_999
