"""`friction simulate`: live traffic with friction incidents, in real time, for demos and soaks.

Traffic is a stream of scenarios: a shopper who loads pages and checks out, clicks, fills in a
form, asks for a password reset and gets the email, chats with an agent. A share of scenarios
(`--incident-rate`) is an incident that one detector reports: the four contract detectors
here, plus every catalogue detector's incident from `friction_detector.streams.devkit.incidents`.
Each scenario's events are scheduled at their event times from now and sent when due, so event
time follows the wall clock as it does in production.
"""

from __future__ import annotations

import heapq
import itertools
import random
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial

import orjson
from friction_detector.streams.devkit.incidents import INJECTORS, event, new_id

SECOND = 1000
Scenario = Callable[[int, random.Random], list[dict]]


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
        attrs = {"form_id": form_id, "outcome": "success" if last and not repeated else "error"}
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

# -- incidents of the four contract detectors ------------------------------------------------


INCIDENTS: dict[str, Scenario] = {
    "slow_checkout": lambda start, rng: shopping(start, rng, slow_checkout=True),
    "late_reset_email": lambda start, rng: password_reset(
        start, rng, rng.choice([rng.uniform(70, 180), -1])
    ),
    "long_chat_wait": lambda start, rng: chat(start, rng, rng.choice([rng.uniform(130, 240), -1])),
    "repeated_form_submission": lambda start, rng: form(start, rng, repeated=True),
}


def incident_catalogue(use_catalogue: bool = True) -> dict[str, Scenario]:
    """The contract incidents, plus one per catalogue detector from the incidents module."""
    incidents = dict(INCIDENTS)
    if use_catalogue:
        for name, inject in INJECTORS.items():
            incidents.setdefault(name, inject)
    return incidents


class Traffic:
    """Scenarios drawn at random, their events merged into one stream in event-time order."""

    def __init__(
        self,
        rng: random.Random,
        incident_rate: float,
        incidents: dict[str, Scenario] | None = None,
    ) -> None:
        self.rng = rng
        self.incident_rate = incident_rate
        self.incidents = incident_catalogue() if incidents is None else incidents
        self.names = sorted(self.incidents)
        self.heap: list[tuple[int, int, dict]] = []
        self.order = itertools.count()
        self.injected: dict[str, int] = dict.fromkeys(self.names, 0)

    def start_scenario(self, start_ms: int) -> int:
        """Schedule one scenario from `start_ms`; returns how many events it holds."""
        if self.names and self.rng.random() < self.incident_rate:
            name = self.rng.choice(self.names)
            self.injected[name] += 1
            events = self.incidents[name](start_ms, self.rng)
        else:
            events = self.rng.choice(EVERYDAY)(start_ms, self.rng)
        for scheduled in events:
            heapq.heappush(self.heap, (scheduled["time"], next(self.order), scheduled))
        return len(events)

    def due(self, now_ms: int) -> Iterator[dict]:
        heap = self.heap
        while heap and heap[0][0] <= now_ms:
            yield heapq.heappop(heap)[2]


def simulate(
    emit: Callable[[dict], None],
    rate: float,
    incident_rate: float,
    duration_s: float | None = None,
    seed: int | None = None,
    progress=sys.stderr,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Traffic:
    """Emit about `rate` events per second until `duration_s` (or interruption)."""
    traffic = Traffic(random.Random(seed), incident_rate)
    started = clock()
    emitted = scheduled = 0
    last_report = started
    try:
        while duration_s is None or clock() - started < duration_s:
            now = clock()
            now_ms = int(now * 1000)
            # Schedule events at the target rate; once the longest scenarios have played out,
            # they are also sent at that rate.
            while scheduled < rate * (now - started) + 1:
                scheduled += traffic.start_scenario(now_ms)
            for event in traffic.due(now_ms):
                emit(event)
                emitted += 1
            if progress is not None and now - last_report >= 10:
                last_report = now
                injected = sum(traffic.injected.values())
                print(
                    f"simulate: {emitted:,} events ({emitted / (now - started):,.0f}/s), "
                    f"{injected} incidents injected",
                    file=progress,
                    flush=True,
                )
            sleep(0.02)
    except KeyboardInterrupt:
        pass
    return traffic


def to_json(event: dict) -> bytes:
    return orjson.dumps(event)
