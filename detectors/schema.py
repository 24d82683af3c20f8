"""Attribute rules per event type: what the decoder checks before any detector sees an event.

`EVENT_TYPES` is every type the built-in detectors read, each defined once, so the schema merger
never sees two versions of one attribute. The wire contract's own types (v1) are also kept apart
as `CONTRACT_TYPES`: the decoder checks them whichever detectors are enabled. Values that could
identify a person (form field values, message texts) arrive only as salted hashes computed by the
producer.
"""

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
                choices = frozenset(self.choices)
                # The type first: a list or an object is no choice, and is not hashable.
                return lambda value: type(value) is str and value in choices
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
            if not isinstance(value, int | float) or isinstance(value, bool):
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

AUTHORS = ("customer", "agent", "bot")

# Contract types (v1): the wire contract's event types and its attribute rules.
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
        "author": Attr(STRING, choices=AUTHORS),
    },
    "chat_ended": {"conversation_id": Attr(STRING)},
}

# Every event type the built-in detectors read: the contract's v1 types, then the others.
EVENT_TYPES: dict[str, EventSchema] = {
    # -- contract v1 --
    **CONTRACT_TYPES,
    # contract v1 `chat_message`, plus two optional attributes the handoff detector reads
    "chat_message": {
        **CONTRACT_TYPES["chat_message"],
        "length": Attr(NUMBER, required=False, minimum=0),
        "text_hash": Attr(STRING, required=False),
    },
    # -- the web front end --
    "click": {
        "target": Attr(STRING),
        "x": Attr(NUMBER, required=False),
        "y": Attr(NUMBER, required=False),
        "response_ms": Attr(NUMBER, required=False, minimum=0),
        "page": Attr(STRING, required=False),
    },
    "js_error": {
        "message": Attr(STRING, required=False),
        "page": Attr(STRING, required=False),
    },
    "page_view": {"page": Attr(STRING)},
    "search": {"results": Attr(NUMBER, required=False, minimum=0)},
    # -- transactional email --
    "email_requested": {"request_id": Attr(STRING), "template": Attr(STRING)},
    # -- orders, deliveries, appointments, bills --
    "order_placed": {"order_id": Attr(STRING), "channel": Attr(STRING, required=False)},
    "order_update": {"order_id": Attr(STRING), "status": Attr(STRING, required=False)},
    "delay_marked": {
        "ref_id": Attr(STRING),
        "ref_type": Attr(STRING, choices=("shipment", "appointment")),
        "reason": Attr(STRING, required=False),
    },
    "customer_notified": {"ref_id": Attr(STRING), "channel": Attr(STRING, required=False)},
    "quote_issued": {
        "quote_id": Attr(STRING),
        "amount": Attr(NUMBER, minimum=0),
        "currency": Attr(STRING, required=False),
        "service": Attr(STRING, required=False),
    },
    "price_change_notified": {
        "quote_id": Attr(STRING),
        "amount": Attr(NUMBER, required=False, minimum=0),
    },
    "invoice_issued": {
        "quote_id": Attr(STRING),
        "amount": Attr(NUMBER, minimum=0),
        "currency": Attr(STRING, required=False),
        "invoice_id": Attr(STRING, required=False),
    },
    # -- information a customer gives --
    "info_provided": {
        "form_id": Attr(STRING),
        "channel": Attr(STRING, required=False),
        "field_hashes": Attr(OBJECT),
    },
    # -- support tickets and chats --
    "ticket_created": {
        "ticket_id": Attr(STRING),
        "queue": Attr(STRING, required=False),
        "sla_s": Attr(NUMBER, required=False, minimum=1),
    },
    "ticket_reply": {
        "ticket_id": Attr(STRING),
        "author": Attr(STRING, choices=AUTHORS),
        "length": Attr(NUMBER, required=False, minimum=0),
        "text_hash": Attr(STRING, required=False),
        "intent": Attr(STRING, required=False),
    },
    "ticket_transferred": {
        "ticket_id": Attr(STRING),
        "to_queue": Attr(STRING, required=False),
    },
    "ticket_solved": {"ticket_id": Attr(STRING)},
    "ticket_reopened": {"ticket_id": Attr(STRING)},
    "chat_transferred": {
        "conversation_id": Attr(STRING),
        "to_queue": Attr(STRING, required=False),
    },
}


def types(*names: str) -> dict[str, EventSchema]:
    """The rules of the named types, for a detector's `consumes`: `consumes = types("click")`."""
    return {name: EVENT_TYPES[name] for name in names}


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
