"""The worker decides the outcomes of journey findings, and accumulates each customer's findings
(`friction_accumulated`), as replay does, on the findings topic; outcomes reach the webhook, and
journeys without friction are counted as the engine counts them."""

from __future__ import annotations

import io
import json
import random
import time
import urllib.request
from collections import Counter
from functools import partial
from pathlib import Path

import jsonschema
import orjson
import pytest
from friction_detector.detectors.config import load_config
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.events import Event
from friction_detector.detectors.observer import EngineObserver
from friction_detector.detectors.outcomes import JourneyOutcome
from friction_detector.streams.cli.replay import replay
from helpers_worker import (
    FINDINGS_TIMEOUT_S,
    LATENESS_MS,
    Names,
    TopicReader,
    Worker,
    add_event,
    assert_same_findings,
    now_ms,
    produce_events,
    replay_findings,
    write_config,
)
from loopback import free_port
from webhook_receiver import SECRET, Receiver

pytestmark = pytest.mark.kafka

WINDOW_S = 3
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs/webhook.schema.json").read_text())
JOURNEYS_METRIC = "friction_journeys_without_friction_total"
CUSTOMERS = 40  # of 120 sessions: three each on average, some four or more, some fewer


def journeys(rng: random.Random, sessions: int, end_ms: int) -> list[dict]:
    """Slow checkouts and repeated submits, about half of them completed within the window;
    each session is one of `CUSTOMERS` customers' (a few sessions carry no user id), so some
    customers accumulate findings from sessions on different routed partitions. As many fast
    checkouts, half of them ordered, are journeys without friction."""
    events: list[dict] = []
    users = [f"u-{n}-{rng.getrandbits(20):05x}" for n in range(CUSTOMERS)]
    ev = partial(add_event, events, rng)
    for i in range(sessions):
        t = end_ms - 5000 + rng.randint(0, 2000)
        session = f"s-{i}-{rng.getrandbits(20):05x}"
        user = None if i % 10 == 9 else rng.choice(users)
        if i % 2:
            ev("page_load", t, {"page": "/checkout/pay", "duration_ms": 6000}, user, session)
            if rng.random() < 0.5:
                ev("order_placed", t + rng.randint(1, 2500), {"order_id": f"o-{i}"}, user, session)
        else:
            for step in range(3):
                attrs = {"form_id": "signup", "outcome": "error"}
                ev("form_submit", t + step * 300, attrs, user, session)
            if rng.random() < 0.5:
                attrs = {"form_id": "signup", "outcome": "success"}
                ev("form_submit", t + 600 + rng.randint(1, 2000), attrs, user, session)
    for i in range(sessions):
        t = end_ms - 5000 + rng.randint(0, 2000)
        session = f"fast-{i}-{rng.getrandbits(20):05x}"
        ev("page_load", t, {"page": "/checkout/cart", "duration_ms": 500}, session=session)
        if rng.random() < 0.5:
            ev("order_placed", t + rng.randint(1, 2500), {"order_id": f"f-{i}"}, session=session)
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


class _Journeys(EngineObserver):
    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()

    def on_journey(self, journey: JourneyOutcome) -> None:
        self.counts[(journey.detector, journey.segment, journey.outcome)] += 1


def engine_journeys(config: Path, events: list[dict]) -> Counter[tuple[str, str, str]]:
    """Journeys without friction the engine counts, by (detector, segment, outcome)."""
    counted = _Journeys()
    loaded = load_config(config)
    engine = Engine(loaded.detectors, allowed_lateness_ms=LATENESS_MS, observer=counted)
    for e in sorted(events, key=lambda e: e["time"]):
        engine.process(Event(e["event_id"], e["type"], e["time"], e["user_id"],
                             e["session_id"], e["attrs"]))  # fmt: skip
    engine.advance(max(e["time"] for e in events) + 3600_000)
    return counted.counts


def worker_journeys(port: int) -> Counter[tuple[str, str, str]]:
    """The worker's friction_journeys_without_friction_total, nonzero series."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    found: Counter[tuple[str, str, str]] = Counter()
    for line in text.splitlines():
        if line.startswith(JOURNEYS_METRIC + "{"):
            labels, value = line[len(JOURNEYS_METRIC) + 1 :].rsplit("} ", 1)
            pairs = dict(pair.split("=", 1) for pair in labels.split(","))
            key = tuple(pairs[name].strip('"') for name in ("detector", "segment", "outcome"))
            if float(value):
                found[key] = int(float(value))  # type: ignore[index]
    return found


def _identity(outcome: dict) -> tuple[str, str, str]:
    return outcome["finding_id"], outcome["outcome"], outcome["time"]


def test_worker_decides_the_same_outcomes_and_accumulations_as_replay(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRICTION_WEBHOOK_SECRET", SECRET)
    receiver = Receiver()
    config = write_config(tmp_path / "friction.toml", LATENESS_MS, also=("friction_accumulated",))
    text = config.read_text()
    for name in ("slow_checkout", "repeated_form_submission"):
        header = f"[detectors.{name}]\n"
        text = text.replace(header, f"{header}outcome_window_s = {WINDOW_S}\n")
    webhook = f'\n[webhook]\nurl = "{receiver.url}"\nrecord_types = ["outcome"]\n'
    config.write_text(text + webhook)
    names = Names("outcomes")
    worker = Worker(kafka_bootstrap, config, names, tmp_path / "worker.log")
    metrics_port = free_port()
    worker.args[worker.args.index("--metrics-port") + 1] = str(metrics_port)
    worker.start()
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

        # The webhook gets each outcome once it is on the topic, as it is there.
        delivered = receiver.wait_for_records(len(expected), timeout_s=30)
        assert sorted(r["outcome"]["finding_id"] for r in delivered) == sorted(
            o["finding_id"] for o in reader.outcomes()
        )
        on_topic = {o["finding_id"]: o for o in reader.outcomes()}
        assert all(r["outcome"] == on_topic[r["outcome"]["finding_id"]] for r in delivered)
        for request in receiver.received:
            assert request.problem is None
            jsonschema.validate(request.doc, SCHEMA, format_checker=jsonschema.FormatChecker())

        # Journeys without friction: counted as the engine counts them in replay.
        expected_journeys = engine_journeys(config, events)
        assert {outcome for _, _, outcome in expected_journeys} == {"completed", "abandoned"}
        deadline = time.monotonic() + 10
        while worker_journeys(metrics_port) != expected_journeys:
            assert time.monotonic() < deadline, (worker_journeys(metrics_port), expected_journeys)
            time.sleep(0.2)
        assert worker.alive()
    finally:
        reader.close()
        worker.stop()
        receiver.close()
