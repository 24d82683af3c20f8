"""A seeded JSON Lines file that exercises every built-in detector and every path of the core.

Everyday traffic, the other event types' background and each detector's incident, at a few
hundred events per second, written in arrival order: most events arrive up to 5 s after their
event time (out of order, within the allowed lateness), some are redelivered (duplicates), some
arrive minutes late (behind the watermark), and a few lines are bad; hours and days of quiet
at the end let every deadline pass and every key expire. Replay's output over it is
kept as a golden file (tests/unit/data/), so a change to the engine or the decoder that alters
any finding, its order, a dead letter or a count fails a test.
"""

from __future__ import annotations

import random

import orjson
from friction_detector.detectors.timefmt import format_time
from friction_detector.streams.devkit.scenarios import (
    EVERYDAY,
    INCIDENTS,
    background,
    clock_event,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z: in the past, so no event is `future_time`
BUILTIN_DETECTORS = sorted(INCIDENTS)
BAD_LINES = [
    b"{not json",
    b"[1, 2]",
    b'{"event_id": "x", "type": "click"}',
    b'{"event_id": "", "type": "click", "time": 1}',
    b'{"event_id": "x", "type": "click", "time": "yesterday", "attrs": {"target": "a"}}',
    b'{"event_id": "x", "type": "page_load", "time": 1, "attrs": {"page": 3, "duration_ms": 1}}',
    b'{"event_id": "x", "type": "page_load", "time": 1, "attrs": {"page": "/", "duration_ms": -1}}',
    b'{"event_id": "x", "type": "click", "time": 1, "attrs": {"target": "a"}, "user_id": 7}',
    b'{"event_id": "x", "type": "click", "time": 1, "attrs": ' + b"[" * 40 + b"]" * 40 + b"}",
    b'{"event_id": "' + b"x" * 300 + b'", "type": "click", "time": 1, "attrs": {"target": "a"}}',
    b'{"event_id": "x", "type": "js_error", "time": 1, "attrs": {'
    + b", ".join(b'"a%d": 1' % i for i in range(70))
    + b"}}",
]


def corpus(scenarios: int = 3000, seed: int = 11) -> list[bytes]:
    """The lines of the file, deterministic for a given seed."""
    rng = random.Random(seed)
    incidents = [INCIDENTS[name] for name in BUILTIN_DETECTORS]
    arrivals: list[tuple[int, int, bytes]] = []
    start = T0
    for n in range(scenarios):
        start += rng.randint(0, 400)
        roll = rng.random()
        if roll < 0.05:
            events = rng.choice(incidents)(start, rng)
        elif roll < 0.55:
            events = rng.choice(EVERYDAY)(start, rng)
        else:
            events = background(start, rng)
        for event in events:
            line = orjson.dumps({**event, "time": format_time(event["time"])})
            arrival = event["time"] + rng.randint(0, 5_000)
            if rng.random() < 0.02:
                arrival += rng.randint(40_000, 300_000)  # behind the watermark when it comes
            arrivals.append((arrival, len(arrivals), line))
            if rng.random() < 0.02:
                arrivals.append((arrival + rng.randint(0, 60_000), len(arrivals), line))
        if n % 200 == 0:
            bad = BAD_LINES[(n // 200) % len(BAD_LINES)]
            arrivals.append((start, len(arrivals), bad))
    # Quiet hours, then days: every deadline passes and idle keys expire.
    for hours in (1, 2, 6, 24, 72):
        clock = clock_event(start + hours * 3_600_000, rng)
        line = orjson.dumps({**clock, "time": format_time(clock["time"])})
        arrivals.append((clock["time"], len(arrivals), line))
    arrivals.sort()
    return [line for _, _, line in arrivals]
