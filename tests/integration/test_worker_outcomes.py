"""The worker decides the outcomes of journey findings, and accumulates each customer's findings
(`friction_accumulated`), as replay does, on the findings topic."""

from __future__ import annotations

import io
import random
import time
from pathlib import Path

import orjson
import pytest
from friction_detector.detectors.config import load_config
from friction_detector.streams.cli.replay import replay
from helpers_worker import (
    FINDINGS_TIMEOUT_S,
    LATENESS_MS,
    Names,
    TopicReader,
    Worker,
    assert_same_findings,
    now_ms,
    produce_events,
    replay_findings,
    write_config,
)

pytestmark = pytest.mark.kafka

WINDOW_S = 3
CUSTOMERS = 40  # of 120 sessions: three each on average, some four or more, some fewer


def journeys(rng: random.Random, sessions: int, end_ms: int) -> list[dict]:
    """Slow checkouts and repeated submits, about half of them completed within the window;
    each session is one of `CUSTOMERS` customers' (a few sessions carry no user id), so some
    customers accumulate findings from sessions on different routed partitions."""
    events: list[dict] = []
    users = [f"u-{n}-{rng.getrandbits(20):05x}" for n in range(CUSTOMERS)]

    def ev(kind: str, t: int, session: str, attrs: dict) -> None:
        event_id = f"e-{len(events)}-{rng.getrandbits(24):06x}"
        events.append(
            {"event_id": event_id, "type": kind, "time": t, "user_id": user,
             "session_id": session, "attrs": attrs}
        )  # fmt: skip

    for i in range(sessions):
        t = end_ms - 5000 + rng.randint(0, 2000)
        session = f"s-{i}-{rng.getrandbits(20):05x}"
        user = None if i % 10 == 9 else rng.choice(users)
        if i % 2:
            ev("page_load", t, session, {"page": "/checkout/pay", "duration_ms": 6000})
            if rng.random() < 0.5:
                ev("order_placed", t + rng.randint(1, 2500), session, {"order_id": f"o-{i}"})
        else:
            for step in range(3):
                attrs = {"form_id": "signup", "outcome": "error"}
                ev("form_submit", t + step * 300, session, attrs)
            if rng.random() < 0.5:
                attrs = {"form_id": "signup", "outcome": "success"}
                ev("form_submit", t + 600 + rng.randint(1, 2000), session, attrs)
    rng.shuffle(events)
    events.sort(key=lambda e: e["time"] + rng.randint(0, 300))  # nearly in order
    return events


def replay_outcomes(config: Path, events: list[dict]) -> set[tuple[str, str, str]]:
    """(finding_id, outcome, time) of each outcome replay decides, every window passed."""
    last = max(e["time"] for e in events)
    clock = {"event_id": "clock", "type": "heartbeat", "time": last + 60_000 + LATENESS_MS}
    lines = b"\n".join(orjson.dumps(e) for e in events + [clock]) + b"\n"
    out = io.BytesIO()
    replay(
        io.BytesIO(lines), load_config(config), io.BytesIO(), io.BytesIO(), "test",
        outcomes_out=out,
    )  # fmt: skip
    return {_identity(orjson.loads(line)) for line in out.getvalue().splitlines()}


def _identity(outcome: dict) -> tuple[str, str, str]:
    return outcome["finding_id"], outcome["outcome"], outcome["time"]


def test_worker_decides_the_same_outcomes_and_accumulations_as_replay(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "friction.toml", LATENESS_MS, also=("friction_accumulated",))
    text = config.read_text()
    for name in ("slow_checkout", "repeated_form_submission"):
        header = f"[detectors.{name}]\n"
        text = text.replace(header, f"{header}outcome_window_s = {WINDOW_S}\n")
    config.write_text(text)
    names = Names("outcomes")
    worker = Worker(kafka_bootstrap, config, names, tmp_path / "worker.log").start()
    reader = TopicReader(kafka_bootstrap, names.findings)
    try:
        worker.wait_ready()
        events = journeys(random.Random(5), 120, now_ms())
        expected_findings = replay_findings(config, events, LATENESS_MS)
        expected = replay_outcomes(config, events)
        accumulated = [
            f for f in expected_findings.values() if f["detector"] == "friction_accumulated"
        ]
        assert len(expected) == len(expected_findings) - len(accumulated) == 120
        assert {outcome for _, outcome, _ in expected} == {"completed", "abandoned"}
        assert len(accumulated) >= 20  # most customers, one or two each
        produce_events(kafka_bootstrap, names.input, events)

        # Abandoned ones wait for the watermark, which idle input moves with the clock; the
        # accumulated findings, for every routed partition's.
        deadline = time.monotonic() + FINDINGS_TIMEOUT_S
        while time.monotonic() < deadline and (
            len(reader.outcomes()) < len(expected)
            or not set(expected_findings) <= set(reader.by_id())
        ):
            reader.poll()
        reader.poll(3.0)  # anything more would be a duplicate

        assert_same_findings(reader.by_id(), expected_findings)
        found = [_identity(outcome) for outcome in reader.outcomes()]
        assert sorted(found) == sorted(expected)
        assert worker.alive()
    finally:
        reader.close()
        worker.stop()
