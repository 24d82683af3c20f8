"""The dead-letter record: bad input with its reason, in one shape for files and topics."""

from __future__ import annotations

import hashlib

import orjson
from friction_detector.detectors.events import BadInput, Event

DETECTOR_ERROR = "detector_error"
# Dead-letter reasons of the worker itself, beside the decoder's (detectors/events.py).
PROCESSING_ERROR = "processing_error"  # handling the message raised
REFUSED_BY_BROKER = "refused_by_broker"  # the broker refused what the message produced
STATE_TOO_LARGE = "state_too_large"  # a key's state the changelog refused: dropped
RUNTIME_REASONS = (PROCESSING_ERROR, REFUSED_BY_BROKER, DETECTOR_ERROR, STATE_TOO_LARGE)
# Comfortably under Kafka's default message.max.bytes (1,048,588), leaving room for the key,
# headers and batch overhead of the produce request.
DEAD_LETTER_MAX_BYTES = 900_000


def dead_letter_record(
    bad: BadInput,
    source: str,
    position: int | str,
    max_bytes: int = DEAD_LETTER_MAX_BYTES,
    whole: tuple[int, str] | None = None,
) -> bytes:
    """JSON for one bad message, at most `max_bytes` long so the broker always takes it.

    The raw bytes are kept as text so nothing is lost; only a record that would be too long has
    its text cut, and then carries the length and SHA-256 of the whole message instead. `whole`
    is that length and hex digest when `bad.raw` is only the message's start (a line too long
    to read whole): its record is always a cut one.
    """
    # Each byte takes at least one byte of the record: those past `max_bytes` can never fit, so
    # they are not even turned into text.
    record = {
        "reason": bad.reason,
        "detail": bad.detail,
        "source": source,
        "position": position,
        "raw": bad.raw[:max_bytes].decode("utf-8", errors="backslashreplace"),
    }
    if whole is None and len(bad.raw) <= max_bytes:
        encoded = orjson.dumps(record)
        if len(encoded) <= max_bytes:
            return encoded
    if whole is None:
        whole = len(bad.raw), hashlib.sha256(bad.raw).hexdigest()
    return _truncated_record(record, whole, max_bytes)


def _truncated_record(record: dict, whole: tuple[int, str], max_bytes: int) -> bytes:
    """The record with as much of the raw text as fits, and the length and digest of the whole.

    The detail is cut too, but only when even an empty `raw` would not fit.
    """
    text = record["raw"]
    size, sha256 = whole
    record.update(raw="", raw_bytes=size, raw_sha256=sha256, raw_truncated=True)
    _cut_to_fit(record, "detail", max_bytes)
    record["raw"] = text
    _cut_to_fit(record, "raw", max_bytes)
    return orjson.dumps(record)


def _cut_to_fit(record: dict, field: str, max_bytes: int) -> None:
    """Shorten the text of `field` to the longest prefix with which the record fits."""
    text = record[field]
    record[field] = ""
    room = max_bytes - len(orjson.dumps(record))
    record[field] = _longest_prefix_within(text, room)


def _longest_prefix_within(text: str, room: int) -> str:
    """The longest prefix of `text` whose JSON escaping takes at most `room` bytes.

    Escaping takes one to six bytes a character, so the length is measured, not guessed: a binary
    search over prefixes no longer than `room` characters.
    """
    shortest, longest = 0, max(0, min(len(text), room))
    while shortest < longest:
        middle = (shortest + longest + 1) // 2
        if len(orjson.dumps(text[:middle])) - 2 <= room:
            shortest = middle
        else:
            longest = middle - 1
    return text[:shortest]


def detector_error_input(detector: str, event: Event, error: Exception) -> BadInput:
    """An event a detector raised on, as bad input: kept whole, with the detector and error."""
    raw = orjson.dumps(
        {
            "event_id": event.event_id,
            "type": event.type,
            "time": event.time,
            "user_id": event.user_id,
            "session_id": event.session_id,
            "attrs": event.attrs,
        }
    )
    detail = f"detector {detector} raised {type(error).__name__}: {error}"
    return BadInput(DETECTOR_ERROR, detail, raw)
