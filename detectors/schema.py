"""Attribute rules per event type: what the decoder checks before any detector sees an event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

STRING = "string"
NUMBER = "number"
STRING_LIST = "string list"
OBJECT = "object"


@dataclass(frozen=True)
class Attr:
    """One `attrs` field of an event type: its kind, whether it must be present, allowed values."""

    kind: str
    required: bool = True
    minimum: float | None = None
    choices: tuple[str, ...] = ()

    def acceptor(self) -> Callable[[object], bool]:
        """A quick yes/no for the decoder's hot path; `problem` explains a no."""
        if self.kind == STRING:
            if self.choices:
                return frozenset(self.choices).__contains__
            return lambda value: type(value) is str and value != ""
        if self.kind == NUMBER:
            minimum = self.minimum
            if minimum is None:
                return lambda value: type(value) is int or type(value) is float
            return lambda value: (type(value) is int or type(value) is float) and value >= minimum
        return lambda value: self.problem(value) is None

    def kind_matches(self, value: object) -> bool:
        """Whether `value` has the right JSON type, so a problem is its value, not its type."""
        expected = {STRING: (str,), NUMBER: (int, float), STRING_LIST: (list,), OBJECT: (dict,)}
        return type(value) in expected[self.kind]

    def problem(self, value: object) -> str | None:
        """Why `value` breaks this rule, or None when it is fine."""
        if self.kind == STRING:
            if type(value) is not str or not value:
                return "must be a non-empty string"
            if self.choices and value not in self.choices:
                return "must be one of " + ", ".join(repr(c) for c in self.choices)
            return None
        if self.kind == NUMBER:
            if type(value) not in (int, float):
                return "must be a number"
            if self.minimum is not None and value < self.minimum:
                return f"must be >= {self.minimum:g}"
            return None
        if self.kind == STRING_LIST:
            if type(value) is not list or not all(type(item) is str for item in value):
                return "must be a list of strings"
            return None
        if self.kind == OBJECT:
            return None if type(value) is dict else "must be an object"
        raise ValueError(f"unknown attribute kind {self.kind!r}")


EventSchema = dict[str, Attr]

CONTRACT_TYPES: dict[str, EventSchema] = {
    "page_load": {"page": Attr(STRING), "duration_ms": Attr(NUMBER, minimum=0)},
    "form_submit": {
        "form_id": Attr(STRING),
        "outcome": Attr(STRING, choices=("success", "error")),
        "error_fields": Attr(STRING_LIST, required=False),
    },
    "password_reset_requested": {"request_id": Attr(STRING)},
    "email_delivered": {"request_id": Attr(STRING), "template": Attr(STRING, required=False)},
    "chat_started": {"conversation_id": Attr(STRING), "queue": Attr(STRING, required=False)},
    "chat_message": {
        "conversation_id": Attr(STRING),
        "author": Attr(STRING, choices=("customer", "agent", "bot")),
    },
    "chat_ended": {"conversation_id": Attr(STRING)},
}


def merge_schemas(schemas: list[dict[str, EventSchema]]) -> dict[str, EventSchema]:
    """Union of per-type rules; two detectors naming one attribute differently is a config bug."""
    merged: dict[str, EventSchema] = {}
    for schema in schemas:
        for event_type, attrs in schema.items():
            target = merged.setdefault(event_type, {})
            for name, rule in attrs.items():
                if name in target and target[name] != rule:
                    raise ValueError(f"conflicting rules for {event_type}.attrs.{name}")
                target[name] = rule
    return merged
