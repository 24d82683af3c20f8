"""Dead-letter records always fit a Kafka message: long raw text is cut, with its size and hash."""

from __future__ import annotations

import hashlib

import orjson
import pytest
from friction_detector.detectors.events import TOO_LARGE, BadInput
from friction_detector.streams.dead_letter import DEAD_LETTER_MAX_BYTES, dead_letter_record
from hypothesis import given, settings
from hypothesis import strategies as st

KAFKA_DEFAULT_MESSAGE_MAX_BYTES = 1_048_588
TRUNCATION_FIELDS = {"raw_bytes", "raw_sha256", "raw_truncated"}


def record_of(raw: bytes, detail: str = "message too large", **kwargs: int) -> dict:
    encoded = dead_letter_record(BadInput(TOO_LARGE, detail, raw), "events", "0:42", **kwargs)
    assert len(encoded) <= kwargs.get("max_bytes", DEAD_LETTER_MAX_BYTES)
    return orjson.loads(encoded)


def as_text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="backslashreplace")


def test_default_limit_is_under_kafkas_default_message_size():
    assert DEAD_LETTER_MAX_BYTES <= KAFKA_DEFAULT_MESSAGE_MAX_BYTES - 100_000


def test_record_that_fits_keeps_the_raw_text_whole_without_truncation_fields():
    raw = b'{"event_id": 1, "bad": "\xff"}'
    record = record_of(raw)
    assert record == {
        "reason": TOO_LARGE,
        "detail": "message too large",
        "source": "events",
        "position": "0:42",
        "raw": as_text(raw),
    }


def test_300_kb_of_invalid_utf8_is_cut_to_fit_with_length_and_hash():
    raw = b"\xff" * 300_000  # 1.5 MB once escaped
    record = record_of(raw)
    assert record["raw_truncated"] is True
    assert record["raw_bytes"] == 300_000
    assert record["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    assert as_text(raw).startswith(record["raw"])


@pytest.mark.parametrize(
    "raw",
    [b"\xff", b"\x01", b'"', b"a", "\U0001f600".encode(), b"\\"],
    ids=["invalid byte", "control", "quote", "ascii", "emoji", "backslash"],
)
def test_cut_fills_the_room_to_within_one_character(raw):
    limit = 50_000
    encoded = dead_letter_record(BadInput(TOO_LARGE, "x", raw * limit), "events", 1, limit)
    # One more character takes at most six bytes (a \u escape).
    assert limit - 6 < len(encoded) <= limit


@pytest.mark.parametrize("byte", [b"\xff", b"\x01", b"a"])
def test_ten_megabytes_fit_the_default_limit(byte):
    raw = byte * 10_000_000
    record = record_of(raw)
    assert record["raw_bytes"] == 10_000_000
    assert record["raw_sha256"] == hashlib.sha256(raw).hexdigest()


def test_detail_is_cut_when_even_an_empty_raw_would_not_fit():
    record = record_of(b"\x01" * 5000, detail="\x02" * 5000, max_bytes=2048)
    assert record["raw_truncated"] is True
    assert "\x02" * 100 in record["detail"]


@settings(max_examples=150, deadline=None)
@given(
    raw=st.binary(max_size=20_000),
    detail=st.text(max_size=300),
    max_bytes=st.integers(min_value=1024, max_value=8192),
)
def test_any_raw_bytes_give_a_record_under_the_limit(raw, detail, max_bytes):
    record = record_of(raw, detail=detail, max_bytes=max_bytes)
    assert as_text(raw).startswith(record["raw"])
    if record.get("raw_truncated"):
        whole = {"reason": TOO_LARGE, "detail": detail, "source": "events", "position": "0:42"}
        assert len(orjson.dumps(dict(whole, raw=as_text(raw)))) > max_bytes
        assert record["raw_bytes"] == len(raw)
        assert record["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    else:
        assert record["raw"] == as_text(raw)
        assert TRUNCATION_FIELDS.isdisjoint(record)
