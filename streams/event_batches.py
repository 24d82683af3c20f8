"""Batch messages: one Kafka message whose value is a JSON array of contract events.

A collector that buffers a page's or a service's events sends them as one message: the broker,
the client and the worker's framework then pay their per-message costs once per batch instead
of once per event, which is most of what an event costs a Python consumer. Each element is
still an event on its own: it is checked against every limit and rule as a message of one event
would be (its size is that of the element written alone), and a bad element is dead-lettered
with its reason and its place in the array, never the elements around it. The limits below bound
what one message may ask of the worker: no batch makes more than MAX_BATCH_EVENTS dead letters.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from friction_detector.detectors.events import (
    INVALID_JSON,
    INVALID_VALUE,
    NOT_OBJECT,
    TOO_DEEP,
    TOO_LARGE,
    BadInput,
    Event,
    EventDecoder,
)

# A batch holds at most this many events, and its message at most this many bytes (Kafka's
# default message limit is 1,048,588 bytes, a record's framing included).
MAX_BATCH_EVENTS = 1000
MAX_BATCH_BYTES = 1 << 20

_WHITESPACE = b" \t\r\n"


def is_batch(raw: bytes) -> bool:
    """The message is a JSON array (so, once parsed, a batch and not an event)."""
    head = raw[:1]
    if head in _WHITESPACE and head:
        head = raw.lstrip(_WHITESPACE)[:1]
    return head == b"["


def decode_message(
    decoder: EventDecoder, raw: bytes
) -> Iterator[tuple[int | None, Event | BadInput]]:
    """Each event of a message with its index in the batch (None for a message of one event).

    A batch that cannot be read as a whole (not JSON, too large, too many or no events) is one
    bad input, index None; a readable batch yields one verdict per element, in order.
    """
    if not is_batch(raw):
        yield None, decoder.decode(raw)
        return
    if len(raw) > MAX_BATCH_BYTES:
        detail = f"batch message is {len(raw)} bytes, limit {MAX_BATCH_BYTES}"
        yield None, BadInput(TOO_LARGE, detail, raw)
        return
    try:
        elements = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        # orjson refuses more than 1024 levels outright, as the decoder reads it: too deep.
        if err.msg == "depth limit exceeded":
            detail = f"nested deeper than {decoder.max_depth} levels (the event object is level 1)"
            yield None, BadInput(TOO_DEEP, detail, raw)
        else:
            yield None, BadInput(INVALID_JSON, f"not valid JSON: {err}", raw)
        return
    if not elements or len(elements) > MAX_BATCH_EVENTS:
        if elements:
            detail = f"batch of {len(elements)} events, limit {MAX_BATCH_EVENTS}"
            yield None, BadInput(TOO_LARGE, detail, raw)
        else:
            detail = f"empty batch: a batch holds 1 to {MAX_BATCH_EVENTS} events"
            yield None, BadInput(INVALID_VALUE, detail, raw)
        return
    limit = decoder.max_event_bytes
    for index, element in enumerate(elements):
        alone = orjson.dumps(element)  # the element as its own message: size, raw, dead letter
        if len(alone) > limit:
            detail = f"event is {len(alone)} bytes, limit {limit}"
            yield index, BadInput(TOO_LARGE, detail, alone)
        elif type(element) is not dict:
            detail = f"expected a JSON object, got {type(element).__name__}"
            yield index, BadInput(NOT_OBJECT, detail, alone)
        else:
            yield index, decoder.from_object(element, alone)


def element_position(position: str, index: int | None) -> str:
    """A dead letter's position: the message's (`partition:offset`), then `[index]` for an
    element of a batch, counted from 0."""
    return position if index is None else f"{position}[{index}]"


def encode_batch(events: list[bytes]) -> bytes:
    """A batch message of events already written as JSON."""
    return b"[" + b",".join(events) + b"]"
