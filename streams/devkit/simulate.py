"""`friction simulate`: live traffic with friction incidents, in real time, for demos and soaks.

This module schedules and sends; the scenarios themselves live in `scenarios.py`. Traffic is a
stream of everyday scenarios (`EVERYDAY`): a shopper who loads pages and checks out, clicks, fills
in a form, asks for a password reset and gets the email, chats with an agent. A share of scenarios
(`--incident-rate`) is an incident that one detector reports, drawn evenly from `INCIDENTS`, one
per built-in detector, and `FINDING_INCIDENTS` (a customer whose frictions add up). Each
scenario's events are scheduled at their event times from now and sent when due, so event time
follows the wall clock as it does in production.
"""

from __future__ import annotations

import heapq
import itertools
import random
import sys
import time
from collections.abc import Callable, Iterator

import orjson
from friction_detector.streams.devkit.scenarios import (
    EVERYDAY,
    FINDING_INCIDENTS,
    INCIDENTS,
    Scenario,
)


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
        self.incidents = {**INCIDENTS, **FINDING_INCIDENTS} if incidents is None else incidents
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
    after_tick: Callable[[], None] | None = None,
) -> Traffic:
    """Emit about `rate` events per second until `duration_s` (or interruption);
    `after_tick()` runs after each round of due events (a batching sender closes batches due
    by age there)."""
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
            if after_tick is not None:
                after_tick()
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
