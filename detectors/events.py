"""Input events: the typed record and the decoder that turns bytes into it or into a reason."""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import orjson

from detectors.schema import EventSchema
from detectors.timefmt import parse_time

DEFAULT_MAX_EVENT_BYTES = 64 * 1024


class Event(NamedTuple):
    """One validated contract event; `time` is epoch milliseconds."""

    event_id: str
    type: str
    time: int
    user_id: str | None
    session_id: str | None
    attrs: dict


class BadInput(NamedTuple):
    """Input that is not a contract event: `reason` is a metric label, `detail` says exactly why."""

    reason: str
    detail: str
    raw: bytes


# An Event from its fields in order, at C speed: skips the keyword handling of Event(...). The
# decoder builds events with it, and the engine turns a waiting event's plain list back into one.
event_from_fields = partial(tuple.__new__, Event)

INVALID_JSON = "invalid_json"
NOT_OBJECT = "not_object"
MISSING_FIELD = "missing_field"
WRONG_TYPE = "wrong_type"
INVALID_VALUE = "invalid_value"
TOO_LARGE = "too_large"
BAD_INPUT_REASONS = (INVALID_JSON, NOT_OBJECT, MISSING_FIELD, WRONG_TYPE, INVALID_VALUE, TOO_LARGE)


class EventDecoder:
    """Validates raw messages against the contract and the attribute rules of enabled detectors."""

    def __init__(
        self,
        schemas: dict[str, EventSchema],
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        self.schemas = schemas
        self._checks = {
            event_type: tuple(
                (name, rule.required, rule.acceptor(), rule) for name, rule in rules.items()
            )
            for event_type, rules in schemas.items()
        }
        self.max_event_bytes = max_event_bytes

    def decode(self, raw: bytes) -> Event | BadInput:
        """Parse one message; never raises on bad input."""
        if len(raw) > self.max_event_bytes:
            return BadInput(
                TOO_LARGE, f"message is {len(raw)} bytes, limit {self.max_event_bytes}", raw
            )
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            return BadInput(INVALID_JSON, f"not valid JSON: {err}", raw)
        if type(doc) is not dict:
            return BadInput(NOT_OBJECT, f"expected a JSON object, got {type(doc).__name__}", raw)
        return self.from_object(doc, raw)

    def from_object(self, doc: dict, raw: bytes = b"") -> Event | BadInput:
        """Validate an already parsed object."""
        event_id = doc.get("event_id")
        event_type = doc.get("type")
        time_value = doc.get("time")
        if event_id is None or event_type is None or time_value is None:
            name = "event_id" if event_id is None else "type" if event_type is None else "time"
            return BadInput(MISSING_FIELD, f"missing required field {name!r}", raw)
        if type(event_id) is not str or not event_id:
            return BadInput(WRONG_TYPE, "field 'event_id' must be a non-empty string", raw)
        if type(event_type) is not str or not event_type:
            return BadInput(WRONG_TYPE, "field 'type' must be a non-empty string", raw)
        time_ms = parse_time(time_value)
        if time_ms is None:
            if type(time_value) in (str, int):
                return BadInput(
                    INVALID_VALUE,
                    f"field 'time' is not RFC 3339 with a zone offset: {time_value!r}",
                    raw,
                )
            return BadInput(
                WRONG_TYPE, "field 'time' must be an RFC 3339 string or epoch milliseconds", raw
            )
        user_id = doc.get("user_id")
        session_id = doc.get("session_id")
        if user_id is not None and type(user_id) is not str:
            return BadInput(WRONG_TYPE, "field 'user_id' must be a string", raw)
        if session_id is not None and type(session_id) is not str:
            return BadInput(WRONG_TYPE, "field 'session_id' must be a string", raw)
        attrs = doc.get("attrs")
        if attrs is None:
            attrs = {}
        elif type(attrs) is not dict:
            return BadInput(WRONG_TYPE, "field 'attrs' must be an object", raw)
        for name, required, accepts, rule in self._checks.get(event_type, ()):
            value = attrs.get(name)
            if value is None:
                if required:
                    return BadInput(
                        MISSING_FIELD, f"{event_type}: missing required attrs.{name}", raw
                    )
            elif not accepts(value):
                reason = INVALID_VALUE if rule.kind_matches(value) else WRONG_TYPE
                return BadInput(reason, f"{event_type}: attrs.{name} {rule.problem(value)}", raw)
        return event_from_fields((event_id, event_type, time_ms, user_id, session_id, attrs))
