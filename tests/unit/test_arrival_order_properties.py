"""Properties of the core over mixed streams: arrival order and redelivery within the lateness
change nothing, and finding ids are a function of the input."""

from __future__ import annotations

import orjson
from contract_stream import SECOND, T0, arrival_order, contract_detectors, event_streams
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.events import Event
from friction_detector.detectors.observer import EngineObserver
from hypothesis import given, settings
from hypothesis import strategies as st

LATENESS_MS = 30_000

property_settings = settings(max_examples=100, deadline=None)


class _LateCounter(EngineObserver):
    def __init__(self) -> None:
        self.late = 0

    def on_late(self, event: Event, watermark: int) -> None:
        self.late += 1


def findings_of(arrivals: list[Event]) -> list[dict]:
    counter = _LateCounter()
    engine = Engine(contract_detectors(), allowed_lateness_ms=LATENESS_MS, observer=counter)
    found = []
    for event in arrivals:
        found.extend(engine.process(event))
    assert counter.late == 0, "the arrival order must stay within the allowed lateness"
    return [finding.to_dict() for finding in found]


def as_set(findings: list[dict]) -> set[bytes]:
    return {orjson.dumps(f, option=orjson.OPT_SORT_KEYS) for f in findings}


def by_time(findings: list[dict]) -> list[dict]:
    return sorted(findings, key=lambda f: (f["time"], f["finding_id"]))


def per_key(findings: list[dict]) -> dict[bytes, list[dict]]:
    """Findings grouped by detector and subject, each group in emission order."""
    groups: dict[bytes, list[dict]] = {}
    for f in findings:
        key = orjson.dumps([f["detector"], f["subject"]], option=orjson.OPT_SORT_KEYS)
        groups.setdefault(key, []).append(f)
    return groups


@property_settings
@given(event_streams(), st.randoms(use_true_random=False))
def test_arrival_within_lateness_gives_the_same_findings_as_in_order(events, rng):
    in_order = findings_of(events)
    shuffled = findings_of(arrival_order(events, LATENESS_MS, rng))
    assert as_set(shuffled) == as_set(in_order)
    assert by_time(shuffled) == by_time(in_order)


@property_settings
@given(event_streams(), st.randoms(use_true_random=False))
def test_arrival_within_lateness_keeps_each_keys_findings_in_the_same_order(events, rng):
    assert per_key(findings_of(arrival_order(events, LATENESS_MS, rng))) == per_key(
        findings_of(events)
    )


@property_settings
@given(event_streams(), st.randoms(use_true_random=False), st.data())
def test_redelivery_within_lateness_does_not_change_findings(events, rng, data):
    twice = []
    if events:
        twice = data.draw(st.lists(st.sampled_from(events), unique_by=lambda e: e.event_id))
    arrivals = [(e.time + rng.randrange(LATENESS_MS), i, e) for i, e in enumerate(events + twice)]
    redelivered = [event for _, _, event in sorted(arrivals)]
    again, once = findings_of(redelivered), findings_of(events)
    assert by_time(again) == by_time(once)
    assert per_key(again) == per_key(once)


@property_settings
@given(event_streams(), st.randoms(use_true_random=False))
def test_finding_ids_are_the_same_in_two_runs(events, rng):
    arrivals = arrival_order(events, LATENESS_MS, rng)
    first = [f["finding_id"] for f in findings_of(arrivals)]
    second = [f["finding_id"] for f in findings_of(list(arrivals))]
    assert first == second


@property_settings
@given(event_streams())
def test_distinct_moments_get_distinct_finding_ids(events):
    ids = [f["finding_id"] for f in findings_of(events)]
    assert len(ids) == len(set(ids))


@property_settings
@given(
    st.sampled_from(
        [("password_reset_requested", "request_id"), ("chat_started", "conversation_id")]
    ),
    st.integers(1, 90 * SECOND),
    st.lists(st.integers(-60 * SECOND, 90 * SECOND), min_size=1, max_size=6),
    st.randoms(use_true_random=False),
)
def test_key_reused_after_its_lifetime_gives_the_same_findings_in_any_arrival_order(
    opening, beyond, neighbours, rng
):
    # Both keys live 900 s (the dedup horizon); the reuse lands just past it, with other events
    # around, so whether the old key was dropped before the reuse arrives depends on arrival.
    event_type, id_name = opening
    expiry = T0 + 900 * SECOND
    events = [
        Event("e-first", event_type, T0, "u-1", "s-1", {id_name: "k"}),
        Event("e-again", event_type, expiry + beyond, "u-1", "s-1", {id_name: "k"}),
        Event("e-flush", "page_view", T0 + 3 * 3600 * SECOND, None, None, {}),
    ]
    events += [
        Event(f"e-n{i}", "page_view", expiry + offset, None, None, {})
        for i, offset in enumerate(neighbours)
    ]
    events.sort(key=lambda e: (e.time, e.event_id))
    in_order = findings_of(events)
    assert len(in_order) == 2
    assert by_time(findings_of(arrival_order(events, LATENESS_MS, rng))) == by_time(in_order)


def outcomes_of(arrivals: list[Event]) -> list[dict]:
    """Every outcome of a run whose watermark ends past every outcome window."""
    counter = _LateCounter()
    engine = Engine(contract_detectors(), allowed_lateness_ms=LATENESS_MS, observer=counter)
    for event in arrivals:
        engine.process(event)
    engine.advance(max((e.time for e in arrivals), default=T0) + 24 * 3600 * SECOND)
    assert counter.late == 0, "the arrival order must stay within the allowed lateness"
    return [outcome.to_dict() for outcome in engine.take_outcomes()]


@property_settings
@given(event_streams(), st.randoms(use_true_random=False))
def test_arrival_within_lateness_gives_the_same_outcomes_as_in_order(events, rng):
    in_order = outcomes_of(events)
    shuffled = outcomes_of(arrival_order(events, LATENESS_MS, rng))
    assert as_set(shuffled) == as_set(in_order)
    assert len(shuffled) == len(as_set(shuffled))  # one outcome per finding, never two


@property_settings
@given(event_streams())
def test_every_journey_finding_gets_exactly_one_outcome(events):
    engine = Engine(contract_detectors(), allowed_lateness_ms=LATENESS_MS)
    found = []
    for event in events:
        found.extend(engine.process(event))
    found.extend(engine.advance(max((e.time for e in events), default=T0) + 24 * 3600 * SECOND))
    journeys = {d.name for d in contract_detectors() if d.journey is not None}
    assert journeys == {"slow_checkout", "repeated_form_submission", "long_chat_wait"}
    expected = sorted(f.finding_id for f in found if f.detector in journeys)
    assert sorted(o.finding_id for o in engine.take_outcomes()) == expected


def accumulated_of(arrivals: list[Event], min_findings: int, period_s: int, every: int) -> list:
    """Replay's two stages: the contract detectors, then `friction_accumulated` over their
    findings, moved to the engine's settled time after every `every` events, and at the end."""
    from friction_detector.detectors.builtin.friction_accumulated import FrictionAccumulated
    from friction_detector.detectors.finding_events import FindingStage

    counter = _LateCounter()
    engine = Engine(contract_detectors(), allowed_lateness_ms=LATENESS_MS, observer=counter)
    detector = FrictionAccumulated(min_findings=min_findings, period_s=period_s)
    stage = FindingStage([detector], dedup_horizon_ms=engine.dedup_horizon_ms)
    found = []
    for n, event in enumerate(arrivals, 1):
        stage.take(engine.process(event))
        if n % every == 0:
            found.extend(stage.advance(engine.settled()))
    stage.take(engine.finish())
    found.extend(stage.advance(engine.settled()))
    found.extend(stage.finish())
    assert counter.late == 0, "the arrival order must stay within the allowed lateness"
    return [finding.to_dict() for finding in found]


@property_settings
@given(
    event_streams(),
    st.randoms(use_true_random=False),
    st.sampled_from([(2, 120), (2, 900), (3, 1800)]),
    st.sampled_from([1, 7]),
)
def test_accumulated_findings_do_not_depend_on_arrival_order_or_when_they_settle(
    events, rng, rule, every
):
    min_findings, period_s = rule
    in_order = accumulated_of(events, min_findings, period_s, every=1)
    arrivals = arrival_order(events, LATENESS_MS, rng)
    shuffled = accumulated_of(arrivals, min_findings, period_s, every)
    assert by_time(shuffled) == by_time(in_order)
