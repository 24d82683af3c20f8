"""Input events: the typed record and the decoder that turns bytes into it or into a reason."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Annotated, Any, NamedTuple

import msgspec
import orjson
from friction_detector.detectors.schema import EventSchema
from friction_detector.detectors.timefmt import format_time, parse_time, usual_time

try:  # the fast path's rules, compiled (detectors/core/src/usual_events.rs)
    from friction_detector.detectors._core import UsualEvents
except ImportError:  # installed without cargo (pyproject.toml: the core is optional)
    UsualEvents = None  # type: ignore[assignment,misc]

DEFAULT_MAX_EVENT_BYTES = 64 * 1024
DEFAULT_MAX_FUTURE_MS = 60 * 60 * 1000
DEFAULT_MAX_DEPTH = 32
DEFAULT_MAX_ATTRS = 64
DEFAULT_MAX_STRING_CHARS = 8192
# Ids become state keys and parts of findings: an id longer than this is a producer's bug.
MAX_ID_CHARS = 256
# orjson writes at most 254 levels, and an event is re-encoded inside routed messages and engine
# state a few levels down: a depth limit above this would let accepted events crash the worker.
MAX_DEPTH_CEILING = 128


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
TOO_DEEP = "too_deep"
TOO_LONG = "too_long"
TOO_MANY_ATTRS = "too_many_attrs"
FUTURE_TIME = "future_time"
BAD_INPUT_REASONS = (
    INVALID_JSON,
    NOT_OBJECT,
    MISSING_FIELD,
    WRONG_TYPE,
    INVALID_VALUE,
    TOO_LARGE,
    TOO_DEEP,
    TOO_LONG,
    TOO_MANY_ATTRS,
    FUTURE_TIME,
)


def envelope_reader(max_depth: int, max_chars: int) -> Callable[[bytes], object] | None:
    """msgspec's reader of an envelope the structure limits cannot object to, for the fast path.

    The types say, and msgspec checks in C while it parses, what the checked path finds in a
    walk: attribute values no deeper than a list or object of scalars (three levels with the
    envelope and `attrs`), no string or key over `max_chars` characters, integers within 64
    bits (beyond them orjson reads a float and msgspec an int), no unknown top-level field
    (the limits apply to those too), ids and type not empty and ids within `MAX_ID_CHARS`.
    None when `max_depth` is under three levels.
    """
    if max_depth < 3:
        return None
    text = Annotated[str, msgspec.Meta(max_length=max_chars)]
    id_chars = min(MAX_ID_CHARS, max_chars)
    event_id = Annotated[str, msgspec.Meta(min_length=1, max_length=id_chars)]
    event_type = Annotated[str, msgspec.Meta(min_length=1, max_length=max_chars)]
    optional_id = Annotated[str, msgspec.Meta(max_length=id_chars)] | None
    scalar = text | Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] | float | bool | None
    value = scalar | list[scalar] | dict[text, scalar]
    envelope = msgspec.defstruct(
        "Envelope",
        [
            ("event_id", event_id),
            ("type", event_type),
            ("time", text | int),
            ("user_id", optional_id, None),
            ("session_id", optional_id, None),
            ("attrs", dict[text, value] | None, None),
        ],
        forbid_unknown_fields=True,
    )
    return msgspec.json.Decoder(envelope).decode


def wall_clock_ms() -> int:
    """The decoder's default clock: epoch milliseconds now."""
    return time.time_ns() // 1_000_000


class EventDecoder:
    """Validates raw messages against the contract, the limits and the attribute rules."""

    def __init__(
        self,
        schemas: dict[str, EventSchema],
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        *,
        max_future_ms: int = DEFAULT_MAX_FUTURE_MS,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_attrs: int = DEFAULT_MAX_ATTRS,
        max_string_chars: int = DEFAULT_MAX_STRING_CHARS,
        now_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.schemas = schemas
        self._checks = {
            event_type: tuple(
                (name, rule.required, rule.acceptor(), rule) for name, rule in rules.items()
            )
            for event_type, rules in schemas.items()
        }
        # Each schema type's name: an accepted event of that type carries this one string, not
        # a copy per message, so comparisons and lookups of `event.type` find the same object.
        self._type_names = {event_type: event_type for event_type in schemas}
        self.max_event_bytes = max_event_bytes
        self.max_future_ms = max_future_ms
        self.max_depth = max_depth
        self.max_attrs = max_attrs
        self.max_string_chars = max_string_chars
        self.now_ms = now_ms
        self._horizon_ms = now_ms() + max_future_ms
        self._read_envelope = envelope_reader(max_depth, max_string_chars)
        # `_accept`, or the compiled core's reading of the same rules (a third of its cost).
        self._accept_usual: Callable[[Any, int], Event | None] = self._accept
        if UsualEvents is not None:
            rules = {
                event_type: [
                    (name, rule.required, rule.kind, rule.minimum, rule.choices, accepts)
                    for name, _, accepts, rule in checks
                ]
                for event_type, checks in self._checks.items()
            }
            self._accept_usual = UsualEvents(rules, max_attrs, Event, parse_time).accept

    def decode(self, raw: bytes) -> Event | BadInput:
        """Parse one message; never raises on bad input.

        A message is first read by msgspec into the envelope's types (`envelope_reader`) and
        accepted at once if it passes every rule; anything else, a bad message above all, takes
        the checked path (`decode_checked`), which finds the broken rule and says exactly why.
        Both paths accept the same events as the same values: the fast one skips work for the
        usual case (about half of the checked path's time).
        """
        read = self._read_envelope
        if read is not None and len(raw) <= self.max_event_bytes:
            try:
                envelope = read(raw)
            except (msgspec.DecodeError, msgspec.ValidationError):
                return self.decode_checked(raw)
            event = self._accept_usual(envelope, self._horizon_ms)
            if event is not None:
                return event
        return self.decode_checked(raw)

    def _accept(self, envelope: Any, horizon_ms: int) -> Event | None:
        """The event, if the envelope passes every rule of `from_object` and its time is not
        after `horizon_ms`; None sends the message to the checked path, which finds the broken
        rule and words the reason. The envelope's types have already checked the ids and the
        type (`envelope_reader`)."""
        event_type = envelope.type
        time_ms = usual_time(envelope.time)
        if time_ms is None:
            time_ms = parse_time(envelope.time)
        if time_ms is None or time_ms > horizon_ms:
            return None
        attrs = envelope.attrs
        if attrs is None:
            attrs = {}
        elif len(attrs) > self.max_attrs:
            return None
        for name, required, accepts, _ in self._checks.get(event_type, ()):
            value = attrs.get(name)
            if value is None:
                if required:
                    return None
            elif not accepts(value):
                return None
        return event_from_fields(
            (
                envelope.event_id,
                self._type_names.get(event_type, event_type),
                time_ms,
                envelope.user_id,
                envelope.session_id,
                attrs,
            )
        )

    def decode_checked(self, raw: bytes) -> Event | BadInput:
        """Parse one message with orjson and check it rule by rule: the reason for a bad one."""
        if len(raw) > self.max_event_bytes:
            return BadInput(
                TOO_LARGE, f"message is {len(raw)} bytes, limit {self.max_event_bytes}", raw
            )
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            # orjson refuses more than 1024 levels outright: that is our limit's breach too.
            if err.msg == "depth limit exceeded":
                return BadInput(TOO_DEEP, self._too_deep_detail(), raw)
            return BadInput(INVALID_JSON, f"not valid JSON: {err}", raw)
        if type(doc) is not dict:
            return BadInput(NOT_OBJECT, f"expected a JSON object, got {type(doc).__name__}", raw)
        return self.from_object(doc, raw)

    def from_object(self, doc: dict, raw: bytes = b"") -> Event | BadInput:
        """Validate an already parsed object; `raw`, when given, lets small messages skip a walk."""
        # A string has no more characters than its bytes, and each level needs its own `[` or
        # `{`: the bytes of a typical event prove it within the limits without a walk.
        if (
            not raw
            or len(raw) > self.max_string_chars
            or raw.count(b"{") + raw.count(b"[") > self.max_depth
        ):
            breach = self._structure_breach(doc)
            if breach is not None:
                return BadInput(*breach, raw)
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
        if time_ms > self._horizon_ms and time_ms > self._refresh_horizon():
            return BadInput(
                FUTURE_TIME,
                f"field 'time' {format_time(time_ms)} is {time_ms - self._horizon_ms} ms beyond"
                f" the limit of {self.max_future_ms} ms ahead of the wall clock",
                raw,
            )
        user_id = doc.get("user_id")
        session_id = doc.get("session_id")
        if user_id is not None and type(user_id) is not str:
            return BadInput(WRONG_TYPE, "field 'user_id' must be a string", raw)
        if session_id is not None and type(session_id) is not str:
            return BadInput(WRONG_TYPE, "field 'session_id' must be a string", raw)
        if (
            len(event_id) > MAX_ID_CHARS
            or (user_id is not None and len(user_id) > MAX_ID_CHARS)
            or (session_id is not None and len(session_id) > MAX_ID_CHARS)
        ):
            return BadInput(TOO_LONG, _long_id_detail(event_id, user_id, session_id), raw)
        attrs = doc.get("attrs")
        if attrs is None:
            attrs = {}
        elif type(attrs) is not dict:
            return BadInput(WRONG_TYPE, "field 'attrs' must be an object", raw)
        elif len(attrs) > self.max_attrs:
            return BadInput(
                TOO_MANY_ATTRS, f"attrs has {len(attrs)} fields, limit {self.max_attrs}", raw
            )
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
        event_type = self._type_names.get(event_type, event_type)
        return event_from_fields((event_id, event_type, time_ms, user_id, session_id, attrs))

    def _structure_breach(self, doc: dict) -> tuple[str, str] | None:
        """The first nesting or string-length breach, walking the containers without recursion."""
        max_depth = self.max_depth
        max_chars = self.max_string_chars
        stack: list[tuple[dict | list, int]] = [(doc, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > max_depth:
                return TOO_DEEP, self._too_deep_detail()
            children: Iterable[object]
            if type(node) is dict:
                for key in node:
                    if len(key) > max_chars:
                        return TOO_LONG, f"a key is {len(key)} characters, limit {max_chars}"
                children = node.values()
            else:
                children = node
            for child in children:
                kind = type(child)
                if kind is str:
                    if len(child) > max_chars:
                        return TOO_LONG, f"a string is {len(child)} characters, limit {max_chars}"
                elif kind is dict or kind is list:
                    stack.append((child, depth + 1))
        return None

    def _refresh_horizon(self) -> int:
        """Read the clock again: a time under the last horizon is fine without a read, since the
        clock only moves on, so only times beyond it pay for one."""
        self._horizon_ms = self.now_ms() + self.max_future_ms
        return self._horizon_ms

    def _too_deep_detail(self) -> str:
        return f"nested deeper than {self.max_depth} levels (the event object is level 1)"


def _long_id_detail(event_id: str, user_id: str | None, session_id: str | None) -> str:
    """Which id field is over MAX_ID_CHARS, and by how much."""
    ids = {"event_id": event_id, "user_id": user_id, "session_id": session_id}
    name, value = next((n, v) for n, v in ids.items() if v is not None and len(v) > MAX_ID_CHARS)
    return f"field {name!r} is {len(value)} characters, limit {MAX_ID_CHARS}"
