"""Every scenario the devkit plays: everyday traffic, and one friction incident per detector.

A scenario is a function `(start_ms, rng)` returning its events (contract dicts, times in epoch
ms). `INCIDENTS` maps each built-in detector to `inject_<detector>`: exactly one moment that the
detector reports once with its default parameters, and that no other built-in detector reports.
`EVERYDAY` is the traffic `friction simulate` plays between incidents (shopping, forms, password
resets, chats); `background(start_ms, rng)` is one harmless scenario of the other event types,
for files that surround incidents with traffic. Ids are drawn from `rng`, so a seeded
`random.Random` gives the same events every time. Deadline moments (`order_silence`,
`unannounced_delay`, a missing email, an unanswered chat) are established only once later events
move the watermark past their deadline: follow them with traffic or `clock_event`.
`simulate.py` schedules these scenarios at their event times and sends them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

Events = list[dict]
Scenario = Callable[[int, random.Random], Events]


def new_id(rng: random.Random, prefix: str) -> str:
    """A short random id from the caller's seeded generator, so a seed replays the same ids."""
    return f"{prefix}-{rng.getrandbits(48):012x}"


def _hash(rng: random.Random) -> str:
    """Stands in for a producer's salted hash of one value."""
    return f"{rng.getrandbits(128):032x}"


def event(
    rng: random.Random,
    event_type: str,
    time_ms: int,
    attrs: dict,
    user_id: str | None = None,
    session_id: str | None = None,
) -> dict:
    return {
        "event_id": new_id(rng, "e"),
        "type": event_type,
        "time": time_ms,
        "user_id": user_id,
        "session_id": session_id,
        "attrs": attrs,
    }


def clock_event(time_ms: int, rng: random.Random) -> dict:
    """A harmless page view that moves event time forward, e.g. past pending deadlines."""
    return event(rng, "page_view", time_ms, {"page": "/"}, session_id=new_id(rng, "s"))


# -- everyday traffic ---------------------------------------------------------------------------


def shopping(start: int, rng: random.Random, slow_checkout: bool = False) -> list[dict]:
    ids = partial(new_id, rng)
    user, session = ids("u"), ids("s")
    pages = ["/", "/shop", f"/product/{rng.randint(1, 500)}", "/cart"]
    if rng.random() < 0.6 or slow_checkout:
        pages += ["/checkout/address", "/checkout/payment", "/checkout/done"]
    events, t = [], start
    slow_at = rng.randrange(4, len(pages)) if slow_checkout else -1
    for i, page in enumerate(pages):
        duration = rng.randint(5000, 9000) if i == slow_at else rng.randint(200, 2500)
        events.append(
            event(rng, "page_load", t, {"page": page, "duration_ms": duration}, user, session)
        )
        t += duration + rng.randint(1, 8) * SECOND
        for _ in range(rng.randint(0, 2)):
            attrs = {
                "target": rng.choice(["#menu", "a.product", "#add-to-cart", "#next"]),
                "x": rng.randint(0, 1200),
                "y": rng.randint(0, 800),
                "response_ms": rng.randint(20, 180),
                "page": page,
            }
            events.append(event(rng, "click", t, attrs, user, session))
            t += rng.randint(2, 6) * SECOND
    return events


def form(start: int, rng: random.Random, repeated: bool = False) -> list[dict]:
    ids = partial(new_id, rng)
    user, session = ids("u"), ids("s")
    form_id = rng.choice(["signup", "address", "newsletter", "contact"])
    submits = rng.randint(3, 5) if repeated else rng.choice([1, 1, 1, 2])
    events, t = [], start
    for i in range(submits):
        last = i == submits - 1
        attrs: dict[str, object] = {
            "form_id": form_id,
            "outcome": "success" if last and not repeated else "error",
        }
        if attrs["outcome"] == "error":
            attrs["error_fields"] = [rng.choice(["email", "zip", "phone"])]
        events.append(event(rng, "form_submit", t, attrs, user, session))
        t += rng.randint(3, 15) * SECOND if repeated else rng.randint(20, 60) * SECOND
    return events


def password_reset(start: int, rng: random.Random, delay_s: float | None = None) -> list[dict]:
    """A reset request and its email; `delay_s` None draws an on-time delivery, < 0 none."""
    ids = partial(new_id, rng)
    user, request = ids("u"), ids("r")
    events = [event(rng, "password_reset_requested", start, {"request_id": request}, user)]
    delay = rng.uniform(2, 30) if delay_s is None else delay_s
    if delay >= 0:
        attrs = {"request_id": request, "template": "password_reset"}
        events.append(event(rng, "email_delivered", start + int(delay * SECOND), attrs, user))
    return events


def chat(start: int, rng: random.Random, agent_after_s: float | None = None) -> list[dict]:
    """A support chat; `agent_after_s` None draws a quick reply, < 0 an unanswered chat."""
    ids = partial(new_id, rng)
    user, conversation = ids("u"), ids("c")
    queue = rng.choice(["sales", "support", "billing"])
    c = {"conversation_id": conversation}
    events = [
        event(rng, "chat_started", start, {**c, "queue": queue}, user),
        event(rng, "chat_message", start + 3 * SECOND, {**c, "author": "customer"}, user),
    ]
    wait = rng.uniform(5, 60) if agent_after_s is None else agent_after_s
    end = start + int(max(wait, 150) * SECOND) + 60 * SECOND
    if wait >= 0:
        events.append(
            event(rng, "chat_message", start + int(wait * SECOND), {**c, "author": "agent"})
        )
    events.append(event(rng, "chat_ended", end, c))
    return events


EVERYDAY: tuple[Scenario, ...] = (shopping, shopping, shopping, form, password_reset, chat)


# -- one friction moment each: detectors of the contract's v1 types ---------------------------


def inject_slow_checkout(start_ms: int, rng: random.Random) -> Events:
    return shopping(start_ms, rng, slow_checkout=True)


def inject_late_reset_email(start_ms: int, rng: random.Random) -> Events:
    """A late email, or none at all."""
    return password_reset(start_ms, rng, rng.choice([rng.uniform(70, 180), -1]))


def inject_long_chat_wait(start_ms: int, rng: random.Random) -> Events:
    """A slow first agent reply, or none at all."""
    return chat(start_ms, rng, rng.choice([rng.uniform(130, 240), -1]))


def inject_repeated_form_submission(start_ms: int, rng: random.Random) -> Events:
    return form(start_ms, rng, repeated=True)


# -- one friction moment each: detectors of the other types ----------------------------------


def inject_rage_click(start_ms: int, rng: random.Random) -> Events:
    user, session = new_id(rng, "u"), new_id(rng, "s")
    x, y = rng.randint(100, 900), rng.randint(100, 600)
    return [
        event(
            rng,
            "click",
            start_ms + i * 300,
            {"target": "#pay-now", "x": x + i, "y": y - i, "response_ms": 150, "page": "/pay"},
            user_id=user,
            session_id=session,
        )
        for i in range(3)
    ]


def inject_dead_click(start_ms: int, rng: random.Random) -> Events:
    attrs = {
        "target": "button.apply-coupon",
        "x": 410,
        "y": 520,
        "response_ms": rng.randint(3000, 7000),
        "page": "/cart",
    }
    return [
        event(rng, "click", start_ms, attrs, user_id=new_id(rng, "u"), session_id=new_id(rng, "s"))
    ]


def inject_error_click(start_ms: int, rng: random.Random) -> Events:
    user, session = new_id(rng, "u"), new_id(rng, "s")
    return [
        event(
            rng,
            "click",
            start_ms,
            {"target": "#save-address", "response_ms": 90, "page": "/account/address"},
            user_id=user,
            session_id=session,
        ),
        event(
            rng,
            "js_error",
            start_ms + 400,
            {"message": "TypeError: cannot read properties of undefined", "page": "/account"},
            user_id=user,
            session_id=session,
        ),
    ]


def inject_account_info_detour(start_ms: int, rng: random.Random) -> Events:
    user, session = new_id(rng, "u"), new_id(rng, "s")
    steps: list[tuple[str, dict]] = [
        ("page_view", {"page": "/"}),
        ("page_view", {"page": "/help"}),
        ("search", {"results": 0}),
        ("page_view", {"page": "/help/orders"}),
        ("search", {"results": 3}),
        ("page_view", {"page": "/settings"}),
        ("page_view", {"page": "/account/invoices"}),
    ]
    return [
        event(rng, kind, start_ms + i * 20 * SECOND, attrs, user_id=user, session_id=session)
        for i, (kind, attrs) in enumerate(steps)
    ]


def inject_late_transactional_email(start_ms: int, rng: random.Random) -> Events:
    user, request = new_id(rng, "u"), new_id(rng, "r")
    return [
        event(
            rng,
            "email_requested",
            start_ms,
            {"request_id": request, "template": "verification_code"},
            user_id=user,
        ),
        event(
            rng,
            "email_delivered",
            start_ms + 95 * SECOND,
            {"request_id": request, "template": "verification_code"},
            user_id=user,
        ),
    ]


def inject_order_silence(start_ms: int, rng: random.Random) -> Events:
    attrs = {"order_id": new_id(rng, "o"), "channel": "web"}
    return [event(rng, "order_placed", start_ms, attrs, user_id=new_id(rng, "u"))]


def inject_unannounced_delay(start_ms: int, rng: random.Random) -> Events:
    attrs = {"ref_id": new_id(rng, "sh"), "ref_type": "shipment", "reason": "carrier"}
    return [event(rng, "delay_marked", start_ms, attrs, user_id=new_id(rng, "u"))]


def inject_billing_surprise(start_ms: int, rng: random.Random) -> Events:
    user, quote = new_id(rng, "u"), new_id(rng, "q")
    return [
        event(
            rng,
            "quote_issued",
            start_ms,
            {"quote_id": quote, "amount": 200, "currency": "EUR", "service": "repair"},
            user_id=user,
        ),
        event(
            rng,
            "invoice_issued",
            start_ms + 30 * MINUTE,
            {"quote_id": quote, "amount": 260, "currency": "EUR", "invoice_id": new_id(rng, "i")},
            user_id=user,
        ),
    ]


def inject_repeated_info_request(start_ms: int, rng: random.Random) -> Events:
    user = new_id(rng, "u")
    given = {"name": _hash(rng), "street": _hash(rng), "postcode": _hash(rng)}
    return [
        event(
            rng,
            "info_provided",
            start_ms,
            {"form_id": "checkout_address", "channel": "web", "field_hashes": given},
            user_id=user,
            session_id=new_id(rng, "s"),
        ),
        event(
            rng,
            "info_provided",
            start_ms + 10 * MINUTE,
            {"form_id": "support_identity", "channel": "chat", "field_hashes": given},
            user_id=user,
        ),
    ]


def inject_slow_ticket_response(start_ms: int, rng: random.Random) -> Events:
    user, ticket = new_id(rng, "u"), new_id(rng, "t")
    return [
        event(
            rng, "ticket_created", start_ms, {"ticket_id": ticket, "queue": "billing"}, user_id=user
        ),
        event(
            rng,
            "ticket_reply",
            start_ms + 5 * HOUR,
            {"ticket_id": ticket, "author": "agent", "length": 240},
        ),
    ]


def inject_handoff_bounce(start_ms: int, rng: random.Random) -> Events:
    user, ticket = new_id(rng, "u"), new_id(rng, "t")
    events = [
        event(
            rng, "ticket_created", start_ms, {"ticket_id": ticket, "queue": "general"}, user_id=user
        ),
        event(
            rng,
            "ticket_reply",
            start_ms + 5 * MINUTE,
            {"ticket_id": ticket, "author": "agent", "length": 80},
        ),
    ]
    for i, queue in enumerate(("billing", "tech", "billing")):
        attrs = {"ticket_id": ticket, "to_queue": queue}
        events.append(event(rng, "ticket_transferred", start_ms + (10 + 5 * i) * MINUTE, attrs))
    return events


def inject_ticket_reopened(start_ms: int, rng: random.Random) -> Events:
    user, ticket = new_id(rng, "u"), new_id(rng, "t")
    return [
        event(
            rng, "ticket_created", start_ms, {"ticket_id": ticket, "queue": "returns"}, user_id=user
        ),
        event(
            rng,
            "ticket_reply",
            start_ms + 20 * MINUTE,
            {"ticket_id": ticket, "author": "agent", "length": 300},
        ),
        event(rng, "ticket_solved", start_ms + HOUR, {"ticket_id": ticket}),
        event(rng, "ticket_reopened", start_ms + 3 * HOUR, {"ticket_id": ticket}, user_id=user),
    ]


# Every built-in detector's incident.
INCIDENTS: dict[str, Scenario] = {
    # detectors of the contract's v1 types
    "slow_checkout": inject_slow_checkout,
    "late_reset_email": inject_late_reset_email,
    "long_chat_wait": inject_long_chat_wait,
    "repeated_form_submission": inject_repeated_form_submission,
    # detectors of the other types
    "rage_click": inject_rage_click,
    "dead_click": inject_dead_click,
    "error_click": inject_error_click,
    "account_info_detour": inject_account_info_detour,
    "late_transactional_email": inject_late_transactional_email,
    "order_silence": inject_order_silence,
    "unannounced_delay": inject_unannounced_delay,
    "billing_surprise": inject_billing_surprise,
    "repeated_info_request": inject_repeated_info_request,
    "slow_ticket_response": inject_slow_ticket_response,
    "handoff_bounce": inject_handoff_bounce,
    "ticket_reopened": inject_ticket_reopened,
}


# -- one customer's frictions adding up: the detectors over findings -------------------------


def inject_friction_accumulated(start_ms: int, rng: random.Random) -> Events:
    """One customer meets three frictions within a quarter of an hour: a slow checkout, a form
    submitted again and again, and a late or missing reset email, each in its own session."""
    user = new_id(rng, "u")
    events = inject_slow_checkout(start_ms, rng)
    events += inject_repeated_form_submission(start_ms + 5 * MINUTE, rng)
    events += inject_late_reset_email(start_ms + 10 * MINUTE, rng)
    return [{**e, "user_id": user} if e["user_id"] else e for e in events]


# The incidents of the detectors over findings: made of other detectors' incidents, so they are
# kept apart from `INCIDENTS`, where each incident is one detector's moment alone.
FINDING_INCIDENTS: dict[str, Scenario] = {"friction_accumulated": inject_friction_accumulated}


# -- harmless traffic of the other types: `background` ------------------------------------------


def _browsing(start_ms: int, rng: random.Random) -> Events:
    """A session that clicks calmly (responses INP-good), searches, and finds its account."""
    user, session = new_id(rng, "u"), new_id(rng, "s")
    events, t = [], start_ms
    for _ in range(rng.randint(1, 3)):
        events.append(
            event(
                rng,
                "page_view",
                t,
                {"page": rng.choice(["/", "/shop", "/help"])},
                user_id=user,
                session_id=session,
            )
        )
        t += rng.randint(2, 20) * SECOND
        for _ in range(rng.randint(0, 4)):
            attrs = {
                "target": rng.choice(["#menu", "a.product", "#add-to-cart", "#next"]),
                "x": rng.randint(0, 1200),
                "y": rng.randint(0, 800),
                "response_ms": rng.randint(20, 180),
            }
            events.append(event(rng, "click", t, attrs, user_id=user, session_id=session))
            t += rng.randint(2, 10) * SECOND
    if rng.random() < 0.5:
        events.append(event(rng, "search", t, {"results": 4}, user_id=user, session_id=session))
        t += 5 * SECOND
    if rng.random() < 0.5:
        events.append(
            event(rng, "page_view", t, {"page": "/account"}, user_id=user, session_id=session)
        )
    return events


def _script_error(start_ms: int, rng: random.Random) -> Events:
    attrs = {"message": "ResizeObserver loop limit exceeded", "page": "/shop"}
    return [
        event(
            rng, "js_error", start_ms, attrs, user_id=new_id(rng, "u"), session_id=new_id(rng, "s")
        )
    ]


def _email(start_ms: int, rng: random.Random) -> Events:
    request = new_id(rng, "r")
    template = rng.choice(["verification_code", "magic_link", "receipt", "newsletter_optin"])
    return [
        event(rng, "email_requested", start_ms, {"request_id": request, "template": template}),
        event(
            rng,
            "email_delivered",
            start_ms + rng.randint(1, 20) * SECOND,
            {"request_id": request, "template": template},
        ),
    ]


def _order(start_ms: int, rng: random.Random) -> Events:
    order, user = new_id(rng, "o"), new_id(rng, "u")
    return [
        event(rng, "order_placed", start_ms, {"order_id": order}, user_id=user),
        event(
            rng,
            "order_update",
            start_ms + rng.randint(1, 30) * HOUR,
            {"order_id": order, "status": "shipped"},
            user_id=user,
        ),
    ]


def _delay(start_ms: int, rng: random.Random) -> Events:
    ref = new_id(rng, "ap")
    return [
        event(rng, "delay_marked", start_ms, {"ref_id": ref, "ref_type": "appointment"}),
        event(
            rng,
            "customer_notified",
            start_ms + rng.randint(5, 120) * MINUTE,
            {"ref_id": ref, "channel": "sms"},
        ),
    ]


def _bill(start_ms: int, rng: random.Random) -> Events:
    quote = new_id(rng, "q")
    events = [event(rng, "quote_issued", start_ms, {"quote_id": quote, "amount": 100})]
    invoiced = 105
    if rng.random() < 0.5:
        invoiced = 150
        events.append(
            event(rng, "price_change_notified", start_ms + HOUR, {"quote_id": quote, "amount": 150})
        )
    events.append(
        event(rng, "invoice_issued", start_ms + 2 * HOUR, {"quote_id": quote, "amount": invoiced})
    )
    return events


def _info(start_ms: int, rng: random.Random) -> Events:
    user = new_id(rng, "u")
    given = {"email": _hash(rng), "phone": _hash(rng)}
    attrs = {"form_id": "newsletter", "channel": "web", "field_hashes": given}
    return [
        event(rng, "info_provided", start_ms, attrs, user_id=user),
        event(rng, "info_provided", start_ms + 5 * MINUTE, dict(attrs), user_id=user),
    ]


def _ticket(start_ms: int, rng: random.Random) -> Events:
    ticket, user = new_id(rng, "t"), new_id(rng, "u")
    return [
        event(
            rng, "ticket_created", start_ms, {"ticket_id": ticket, "queue": "orders"}, user_id=user
        ),
        event(
            rng,
            "ticket_reply",
            start_ms + rng.randint(5, 90) * MINUTE,
            {"ticket_id": ticket, "author": "agent", "length": 200},
        ),
        event(
            rng,
            "ticket_transferred",
            start_ms + 2 * HOUR,
            {"ticket_id": ticket, "to_queue": "returns"},
        ),
        event(rng, "ticket_solved", start_ms + 3 * HOUR, {"ticket_id": ticket}),
        event(
            rng,
            "ticket_reply",
            start_ms + 4 * HOUR,
            {"ticket_id": ticket, "author": "customer", "intent": "thanks", "length": 12},
            user_id=user,
        ),
    ]


def _chat(start_ms: int, rng: random.Random) -> Events:
    conversation, user = new_id(rng, "c"), new_id(rng, "u")
    events = [
        event(
            rng,
            "chat_started",
            start_ms,
            {"conversation_id": conversation, "queue": "sales"},
            user_id=user,
        ),
        event(
            rng,
            "chat_message",
            start_ms + 10 * SECOND,
            {
                "conversation_id": conversation,
                "author": "customer",
                "length": 180,
                "text_hash": _hash(rng),
            },
            user_id=user,
        ),
        event(
            rng,
            "chat_message",
            start_ms + 30 * SECOND,
            {"conversation_id": conversation, "author": "agent"},
        ),
        event(
            rng,
            "chat_transferred",
            start_ms + MINUTE,
            {"conversation_id": conversation, "to_queue": "support"},
        ),
        event(
            rng,
            "chat_message",
            start_ms + 2 * MINUTE,
            {
                "conversation_id": conversation,
                "author": "customer",
                "length": 150,
                "text_hash": _hash(rng),
            },
            user_id=user,
        ),
        event(rng, "chat_ended", start_ms + 5 * MINUTE, {"conversation_id": conversation}),
    ]
    return events


BACKGROUND: tuple[Scenario, ...] = (
    _browsing,
    _browsing,
    _browsing,
    _script_error,
    _email,
    _order,
    _delay,
    _bill,
    _info,
    _ticket,
    _chat,
)


def background(start_ms: int, rng: random.Random) -> Events:
    """One harmless scenario: no built-in detector reports it with default parameters."""
    return rng.choice(BACKGROUND)(start_ms, rng)
