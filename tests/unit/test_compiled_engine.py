"""The compiled core (detectors/core) against engine.py, the reference, on the same streams.

Replay runs the compiled core; it must be engine.py in everything an observer or a reader of
replay's output can see: the findings and their order, outcomes, every observer call and its
order, late events, duplicates, detector errors, expiry, the settled time and the deadlines
left. Each test runs both engines on one stream and compares all of it. The import of the core
is direct, so a build without it fails here rather than skipping.
"""

from __future__ import annotations

import random
import zlib
from collections import Counter
from collections.abc import Callable, Iterable

import pytest
from contract_stream import SECOND, T0, arrival_order, event_streams
from friction_detector.detectors import (
    Context,
    Detector,
    Event,
    _core,  # noqa: F401  (fails the module without the core)
)
from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
from friction_detector.detectors.compiled import replay_engine
from friction_detector.detectors.config import build_config
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.events import BadInput
from friction_detector.detectors.observer import EngineObserver
from friction_detector.detectors.schema import CONTRACT_TYPES
from hypothesis import given, settings
from hypothesis import strategies as st
from replay_corpus import BUILTIN_DETECTORS, corpus

LATENESS_MS = 30_000


class CallLog(EngineObserver):
    """Every observer call, in order; state sizes apart, as a count of (detector, size) pairs
    (both engines report the detectors whose count changed at each watermark move, in the
    order of a set)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.sizes: Counter[tuple[str, int]] = Counter()

    def on_event(self, event: Event) -> None:
        self.calls.append(("event", event.event_id))

    def on_late(self, event: Event, watermark: int) -> None:
        self.calls.append(("late", event.event_id, watermark))

    def on_duplicate(self, detector: str, event: Event) -> None:
        self.calls.append(("duplicate", detector, event.event_id))

    def on_finding(self, finding) -> None:
        self.calls.append(("finding", finding.finding_id))

    def on_outcome(self, outcome) -> None:
        self.calls.append(("outcome", outcome))

    def on_journey_opened(self, detector: str, segment: str, interrupted: bool) -> None:
        self.calls.append(("opened", detector, segment, interrupted))

    def on_journey(self, journey) -> None:
        self.calls.append(("journey", journey))

    def on_measurement(self, detector, measurement, seconds, segment, time_ms) -> None:
        self.calls.append(("measurement", detector, measurement, seconds, segment, time_ms))

    def on_state_size(self, detector: str, keys: int) -> None:
        self.sizes[(detector, keys)] += 1

    def on_watermark(self, watermark: int) -> None:
        self.calls.append(("watermark", watermark))

    def on_detector_error(self, detector: str, event: Event | None, error: Exception) -> None:
        self.calls.append(("error", detector, event and event.event_id, repr(error)))


Feed = Callable[[object, Event], list]


def run(make: Callable[..., object], detectors: list, events: Iterable, feed: Feed) -> dict:
    """Everything visible of one engine's run over `events`."""
    log = CallLog()
    engine = make(detectors, allowed_lateness_ms=LATENESS_MS, observer=log)
    found = []
    settled = []  # after every event: the earliest time still waiting, as it moves
    for event in events:
        found += feed(engine, event)
        settled.append(engine.settled())
    settled_before_end = engine.settled()
    found += engine.finish()
    return {
        "findings": [finding.to_dict() for finding in found],
        "outcomes": engine.take_outcomes(),
        "calls": log.calls,
        "sizes": log.sizes,
        "deadlines_ahead": engine.deadlines_ahead(),
        "settled": (settled, settled_before_end, engine.settled()),
        "state_keys": engine.state_keys(),
        "watermark": engine.watermark,
    }


def reference(detectors: list, **kwargs) -> Engine:
    return Engine(detectors, keep_events=True, **kwargs)


def assert_same(detectors: list, events: list, feed: Feed = lambda e, ev: e.process(ev)) -> dict:
    expected = run(reference, detectors, events, feed)
    compiled = run(replay_engine, detectors, events, feed)
    for part, value in expected.items():
        assert compiled[part] == value, f"the compiled core's {part} differ from engine.py's"
    return expected


def every_builtin_detector() -> list:
    return list(build_config({"detectors": {"enable": BUILTIN_DETECTORS}}).detectors)


def decoded_corpus() -> list[Event]:
    decode = build_config({"detectors": {"enable": BUILTIN_DETECTORS}}).decoder().decode
    events = [decode(line) for line in corpus(scenarios=600)]
    return [event for event in events if not isinstance(event, BadInput)]


def test_the_replay_corpus_gives_the_same_everything_through_both_engines() -> None:
    seen = assert_same(every_builtin_detector(), decoded_corpus())
    kinds = Counter(call[0] for call in seen["calls"])
    # The corpus reaches every path compared: otherwise the equality above proves little.
    for kind in ("late", "duplicate", "finding", "outcome", "opened", "journey", "measurement"):
        assert kinds[kind] > 0, kind


def test_read_by_source_the_watermark_follows_the_slowest_and_both_engines_agree() -> None:
    events = decoded_corpus()
    sources = [f"clicks:{i}" for i in range(3)]

    def by_source(engine, event: Event) -> list:
        routing_key = (event.session_id or event.user_id or "").encode()
        source = sources[zlib.crc32(routing_key) % len(sources)]
        return engine.process_from(source, event)

    def expecting(make):
        def made(detectors, **kwargs):
            engine = make(detectors, **kwargs)
            engine.expect_sources(sources)
            return engine

        return made

    expected = run(expecting(reference), every_builtin_detector(), events, by_source)
    compiled = run(expecting(replay_engine), every_builtin_detector(), events, by_source)
    assert compiled == expected
    assert expected["findings"]


@settings(max_examples=60, deadline=None)
@given(events=event_streams(), seed=st.integers(0, 2**32 - 1), redeliver=st.integers(0, 5))
def test_any_arrival_order_late_events_and_redeliveries_give_the_same_everything(
    events: list[Event], seed: int, redeliver: int
) -> None:
    rng = random.Random(seed)
    # Within the lateness and beyond it (late events applied at once), some delivered twice.
    arrivals = arrival_order(events, LATENESS_MS * 3, rng)
    arrivals += [rng.choice(arrivals) for _ in range(redeliver if arrivals else 0)]
    assert_same(every_builtin_detector(), arrivals)


class Erratic(Detector):
    """Raises in each method a detector has, on some events: an error must be reported the same
    way, at the same point, by both engines, and the stream go on."""

    name = "erratic"
    description = "raises now and then"
    consumes = {"page_load": CONTRACT_TYPES["page_load"]}

    def state_ttl_ms(self) -> int:
        return 60 * SECOND

    def key(self, event: Event) -> str | None:
        if event.event_id.endswith("7"):
            raise ValueError("no key")
        return event.session_id

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        state["n"] = state.get("n", 0) + 1
        if event.event_id.endswith("3"):
            raise KeyError("on_event")
        ctx.schedule("check", event.time + 10 * SECOND)
        if state["n"] % 4 == 0:
            ctx.cancel("check")

    def on_deadline(self, state: dict, tag: str, ctx: Context) -> None:
        if state["n"] % 3 == 0:
            raise RuntimeError("on_deadline")
        ctx.emit(
            "quiet",
            severity="info",
            subject={"n": state["n"]},
            summary="quiet",
            evidence={"at": ctx.now},
        )


SLOW_PAY = {"page": "/checkout/pay", "duration_ms": 9000}


def test_detector_errors_and_deadlines_are_the_same_in_both_engines() -> None:
    events = [
        Event(f"e-{i:03d}", "page_load", T0 + i * 4 * SECOND, "u-1", f"s-{i % 3}", SLOW_PAY)
        for i in range(200)
    ]
    arrivals = arrival_order(events, LATENESS_MS, random.Random(5))
    seen = assert_same([Erratic(), SlowCheckout()], arrivals)
    errors = Counter(call[3].split("(")[0] for call in seen["calls"] if call[0] == "error")
    assert set(errors) == {"ValueError", "KeyError", "RuntimeError"}
    assert any(call[0] == "finding" for call in seen["calls"])


def test_idle_keys_expire_and_a_reused_key_starts_afresh_in_both_engines() -> None:
    hour = 3600 * SECOND
    first = [Event(f"a-{i}", "page_load", T0 + i * SECOND, "u-1", "s-0", {}) for i in range(2)]
    later = [  # s-1 comes back every hour, long after its lifetime; s-0 never does
        Event(f"e-{i:03d}", "page_load", T0 + (i // 5) * hour + (i % 5) * SECOND, "u-1", "s-1", {})
        for i in range(40)
    ]
    seen = assert_same([Erratic()], sorted(first + later, key=lambda event: event.time))
    assert seen["state_keys"] == {"erratic": 1}  # s-0 expired
    assert seen["sizes"][("erratic", 2)] and seen["sizes"][("erratic", 1)]
    counted = [finding["subject"]["n"] for finding in seen["findings"]]
    assert counted and max(counted) <= 5  # each hour's deadline counts that hour's events only


@pytest.mark.parametrize("hooks", [(), ("on_finding",), ("on_watermark", "on_state_size")])
def test_an_observer_hears_through_the_hooks_it_overrides_only(hooks: tuple[str, ...]) -> None:
    """The core calls only what the observer's class overrides; the rest it skips."""
    heard: list[str] = []
    namespace = {name: (lambda self, *a, _n=name: heard.append(_n)) for name in hooks}
    observer = type("Partial", (EngineObserver,), namespace)()
    engine = replay_engine(every_builtin_detector(), observer=observer)
    for event in decoded_corpus()[:3000]:
        engine.process(event)
    engine.finish()
    assert set(heard) == set(hooks)


def test_a_redelivery_after_the_dedup_horizon_is_judged_the_same_in_both_engines() -> None:
    """A key keeps at least a few ids whatever their age, older ones only within the horizon:
    the first id is still known when it comes again long after (a duplicate in both)."""
    minute = 60 * SECOND
    times = [0, 10 * minute, 20 * minute]  # each within the lifetime of the one before
    events = [Event(f"e-{i}", "page_load", T0 + t, "u-1", "s-1", {}) for i, t in enumerate(times)]
    # Another key's event moves the watermark past the last, so it is applied before e-0 comes.
    later = Event("x-0", "page_load", T0 + 21 * minute, "u-2", "s-2", {})
    seen = assert_same([Erratic()], [*events, later, events[0]])
    assert ("duplicate", "erratic", "e-0") in seen["calls"]


def test_without_the_core_replay_runs_engine_py_and_says_so(monkeypatch, tmp_path, capsys):
    """An install built where cargo was missing: the same command, the reference engine, and
    a note saying so (the core is optional in pyproject.toml)."""
    from friction_detector.detectors import compiled
    from friction_detector.streams.cli import main as cli

    monkeypatch.setattr(compiled, "_core", None)
    assert isinstance(replay_engine([SlowCheckout()]), Engine)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"")
    assert cli.main(["replay", str(events), "--findings", str(tmp_path / "found.jsonl")]) == 0
    assert "no compiled detection core" in capsys.readouterr().err
    monkeypatch.undo()
    assert cli.main(["replay", str(events), "--findings", str(tmp_path / "found.jsonl")]) == 0
    assert "no compiled detection core" not in capsys.readouterr().err


def test_an_order_at_the_outcome_windows_last_millisecond_completes_it_in_both_engines() -> None:
    """An event at a deadline's exact time comes before the deadline, so it still counts."""
    window_ms = SlowCheckout().journey_window_ms()
    events = [
        Event("e-0", "page_load", T0, "u-1", "s-1", SLOW_PAY),
        Event("e-1", "order_placed", T0 + window_ms, "u-1", "s-1", {}),
    ]
    seen = assert_same([SlowCheckout()], events)
    assert [outcome.outcome for outcome in seen["outcomes"]] == ["completed"]


class Tally(Detector):
    """Counts a key's events and reports each one with its count: a finding's order is the
    order events were applied, and a count of 1 a key that started afresh."""

    name = "tally"
    description = "reports every event with its key's count"
    consumes = {"page_load": CONTRACT_TYPES["page_load"]}

    def state_ttl_ms(self) -> int:
        return SECOND

    def key(self, event: Event) -> str | None:
        return event.session_id

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        state["n"] = state.get("n", 0) + 1
        ctx.emit(
            "tallied",
            severity="info",
            subject={"event": event.event_id, "n": state["n"]},
            summary="tallied",
            evidence={},
        )


def test_a_key_forgotten_while_its_arrival_waits_behind_a_later_one_in_both_engines() -> None:
    """A key that lives less than the lateness can be forgotten while an arrival of its own
    still waits in the queue behind a later event's; a new record of the key made meanwhile is
    what that arrival reaches, in both engines (the core reaches an arrival's record by slot,
    and a forgotten one by its key)."""

    def page_load(event_id: str, seconds: int, session: str) -> Event:
        return Event(event_id, "page_load", T0 + seconds * SECOND, "u-1", session, {})

    events = [
        page_load("x", 10, "s-j"),  # first in the queue
        page_load("s", 0, "s-k"),  # queued behind x; applied when s-k expires at 1 s
        page_load("y", 35, "s-j"),  # watermark 5 s: s-k expires, x still waits
        page_load("n", 6, "s-k"),  # s-k again, a new record; queued behind y
        page_load("z", 50, "s-j"),  # watermark 20 s: x, then s's arrival, which reaches n's
    ]

    def short_lived(make):
        def made(detectors, **kwargs):
            return make(detectors, dedup_horizon_ms=SECOND, **kwargs)

        return made

    expected = run(short_lived(reference), [Tally()], events, lambda e, ev: e.process(ev))
    compiled = run(short_lived(replay_engine), [Tally()], events, lambda e, ev: e.process(ev))
    assert compiled == expected
    tallies = [(f["subject"]["event"], f["subject"]["n"]) for f in expected["findings"]]
    assert tallies[:3] == [("s", 1), ("x", 1), ("n", 1)]  # n counted afresh, before y is due
