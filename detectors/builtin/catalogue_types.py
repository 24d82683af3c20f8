"""Attribute rules of the event types the catalogue detectors consume, defined once.

Mirrors `CONTRACT_TYPES`: every detector that consumes a type declares these exact rules, so the
schema merger never sees two versions of one attribute. Values that could identify a person
(form field values, message texts) arrive only as salted hashes computed by the producer.
"""

from __future__ import annotations

from friction_detector.detectors.schema import (
    CONTRACT_TYPES,
    NUMBER,
    OBJECT,
    STRING,
    Attr,
    EventSchema,
)

AUTHORS = ("customer", "agent", "bot")

CATALOGUE_TYPES: dict[str, EventSchema] = {
    # the web front end
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
    # transactional email
    "email_requested": {"request_id": Attr(STRING), "template": Attr(STRING)},
    # orders, deliveries, appointments, bills
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
    # information a customer gives
    "info_provided": {
        "form_id": Attr(STRING),
        "channel": Attr(STRING, required=False),
        "field_hashes": Attr(OBJECT),
    },
    # support tickets and chats
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

# `chat_message` is a contract type; the handoff detector also reads two optional attributes.
CATALOGUE_TYPES["chat_message"] = {
    **CONTRACT_TYPES["chat_message"],
    "length": Attr(NUMBER, required=False, minimum=0),
    "text_hash": Attr(STRING, required=False),
}


def types(*names: str) -> dict[str, EventSchema]:
    """The rules of the named types, from the catalogue or the contract: a detector's `consumes`."""
    return {name: CATALOGUE_TYPES.get(name) or CONTRACT_TYPES[name] for name in names}
