"""Mixed streams of contract events for the four contract detectors, shared by engine tests.

Ids come from small pools so keys collide, and times sit near every default threshold often.
"""

from __future__ import annotations

import random

from friction_detector.detectors.builtin.late_reset_email import LateResetEmail
from friction_detector.detectors.builtin.long_chat_wait import LongChatWait
from friction_detector.detectors.builtin.repeated_form_submission import RepeatedFormSubmission
from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
from friction_detector.detectors.events import Event
from friction_detector.detectors.testing import at
from hypothesis import strategies as st

T0 = at("2026-11-22T10:00:00Z")
SECOND = 1000


def contract_detectors() -> list:
    return [SlowCheckout(), LateResetEmail(), LongChatWait(), RepeatedFormSubmission()]


SESSIONS = ["s-0", "s-1", "s-2", None]
USERS = ["u-0", "u-1", None]
REQUESTS = ["r-0", "r-1", "r-2"]
CONVERSATIONS = ["c-0", "c-1", "c-2"]

_attrs = {
    "page_load": st.fixed_dictionaries(
        {
            "page": st.sampled_from(["/checkout", "/checkout/pay", "/home"]),
            "duration_ms": st.sampled_from([120, 4000, 4001, 9000]),
        }
    ),
    "form_submit": st.fixed_dictionaries(
        {
            "form_id": st.sampled_from(["signup", "login"]),
            "outcome": st.sampled_from(["error", "error", "success"]),
        }
    ),
    "order_placed": st.fixed_dictionaries({"order_id": st.sampled_from(["o-0", "o-1"])}),
    "password_reset_requested": st.fixed_dictionaries({"request_id": st.sampled_from(REQUESTS)}),
    "email_delivered": st.fixed_dictionaries({"request_id": st.sampled_from(REQUESTS)}),
    "chat_started": st.fixed_dictionaries({"conversation_id": st.sampled_from(CONVERSATIONS)}),
    "chat_message": st.fixed_dictionaries(
        {
            "conversation_id": st.sampled_from(CONVERSATIONS),
            "author": st.sampled_from(["agent", "customer", "bot"]),
        }
    ),
    "chat_ended": st.fixed_dictionaries({"conversation_id": st.sampled_from(CONVERSATIONS)}),
    "page_view": st.just({"page": "/home"}),
}

# Whole seconds plus 0 or 1 ms, so "exactly at" and "just over" a limit both come up.
_offsets = st.builds(
    lambda seconds, extra: seconds * SECOND + extra,
    st.integers(0, 25 * 60),
    st.sampled_from([0, 0, 1]),
)


@st.composite
def _event_parts(draw):
    event_type = draw(st.sampled_from(sorted(_attrs)))
    return (
        event_type,
        T0 + draw(_offsets),
        draw(st.sampled_from(USERS)),
        draw(st.sampled_from(SESSIONS)),
        draw(_attrs[event_type]),
    )


# Gaps at which an event recurs: near each detector's window, deadline, period and lifetime.
_echo_gaps = st.builds(
    lambda base, seconds, extra: base + seconds * SECOND + extra,
    st.sampled_from([60, 120, 600, 900, 1800]).map(lambda s: s * SECOND),
    st.integers(-5, 45),
    st.sampled_from([0, 1]),
)


@st.composite
def event_streams(draw, max_size: int = 60) -> list[Event]:
    """Events in event-time order with unique ids; some recur after a threshold-sized gap."""
    parts = draw(st.lists(_event_parts(), max_size=max_size))
    if parts:
        echoes = draw(
            st.lists(
                st.tuples(st.integers(0, len(parts) - 1), _echo_gaps, st.integers(0, 30)),
                max_size=len(parts),
            )
        )
        for index, gap, lead_s in echoes:
            event_type, time, user, session, attrs = parts[index]
            parts.append((event_type, time + gap, user, session, attrs))
            # A neighbour just before the echo, so the watermark moves close to it.
            parts.append(("page_view", time + gap - lead_s * SECOND, user, session, {}))
    events = [
        Event(f"e-{i:03d}", event_type, time, user, session, attrs)
        for i, (event_type, time, user, session, attrs) in enumerate(parts)
    ]
    return sorted(events, key=lambda e: (e.time, e.event_id))


def arrival_order(events: list[Event], lateness_ms: int, rng: random.Random) -> list[Event]:
    """Each event displaced by less than the lateness: sort on time plus jitter in [0, lateness)."""
    keyed = [(event.time + rng.randrange(lateness_ms), i, event) for i, event in enumerate(events)]
    return [event for _, _, event in sorted(keyed)]


CONTRACT_DETECTORS = (
    "slow_checkout",
    "late_reset_email",
    "long_chat_wait",
    "repeated_form_submission",
)


def contract_only(raw: dict | None = None) -> dict:
    """A raw configuration with every installed detector but the contract's four disabled."""
    from friction_detector.detectors.registry import installed_detectors

    raw = dict(raw or {})
    sections = {name: {"enabled": False} for name in installed_detectors()}
    for name in CONTRACT_DETECTORS:
        sections.pop(name, None)
    sections.update(raw.get("detectors", {}))
    raw["detectors"] = sections
    return raw
