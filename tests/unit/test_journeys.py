"""Journeys without friction, the base rate: each journey detector says what starts a journey;
one that no finding interrupts is completed or abandoned by the same rule and window as an
outcome, in event time, whatever the arrival order within the lateness, and counted."""

from __future__ import annotations

import io

import orjson
import pytest
from contract_stream import SECOND, T0, arrival_order, contract_detectors, event_streams
from friction_detector.detectors import Context, Detector, Journey, Param
from friction_detector.detectors.builtin.error_click import ErrorClick
from friction_detector.detectors.builtin.long_chat_wait import LongChatWait
from friction_detector.detectors.builtin.rage_click import RageClick
from friction_detector.detectors.builtin.repeated_form_submission import RepeatedFormSubmission
from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
from friction_detector.detectors.config import build_config
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.events import Event
from friction_detector.detectors.observer import EngineObserver
from friction_detector.detectors.outcomes import JourneyOutcome
from friction_detector.detectors.schema import types
from friction_detector.detectors.testing import DetectorHarness, make_event
from friction_detector.streams.cli.replay import replay
from friction_detector.streams.observability.metrics import FrictionMetrics
from hypothesis import given, settings
from hypothesis import strategies as st
from journey_events import LATER, MINUTE, WINDOW, checkout_load, order, run, submit
from prometheus_client import generate_latest

LATENESS_MS = 30 * SECOND


def load(offset_ms: int, duration_ms: int = 800, session_id: str | None = "s-1", **kw) -> dict:
    return checkout_load(offset_ms, duration_ms, "/checkout/pay?step=2", session_id, **kw)


def chat(event_type: str, offset_ms: int, **attrs) -> dict:
    return make_event(event_type, T0 + offset_ms, conversation_id="c-1", **attrs)


def click(offset_ms: int, page: str | None = "/checkout/pay", target: str = "button.pay") -> dict:
    attrs = {"target": target, **({"page": page} if page is not None else {})}
    return make_event("click", T0 + offset_ms, **attrs)


def journeys(harness: DetectorHarness) -> list[tuple[str, str, int]]:
    """(segment, outcome, ms after T0) of each journey without friction, in the order decided."""
    return [(j.segment, j.outcome, j.time_ms - T0) for j in harness.journeys]


# -- slow_checkout: a checkout page load of the session ----------------------------------------


def test_a_fast_checkout_ordered_within_the_window_is_completed_at_the_order():
    harness = run(SlowCheckout(), load(0), order(10 * MINUTE))
    assert journeys(harness) == [("/checkout/pay", "completed", 10 * MINUTE)]
    assert harness.findings == [] and harness.outcomes == []


def test_a_fast_checkout_without_an_order_is_abandoned_at_the_end_of_the_window():
    assert journeys(run(SlowCheckout(), load(0))) == [("/checkout/pay", "abandoned", WINDOW)]


def test_an_order_at_the_last_millisecond_completes_and_one_after_it_does_not():
    assert journeys(run(SlowCheckout(), load(0), order(WINDOW))) == [
        ("/checkout/pay", "completed", WINDOW)
    ]
    harness = run(SlowCheckout(), load(0), order(WINDOW + 1))
    assert journeys(harness)[0] == ("/checkout/pay", "abandoned", WINDOW)


def test_later_loads_of_the_session_belong_to_the_open_journey():
    harness = run(SlowCheckout(), load(0), load(MINUTE), load(2 * MINUTE), order(3 * MINUTE))
    assert journeys(harness) == [("/checkout/pay", "completed", 3 * MINUTE)]


def test_a_load_after_the_window_starts_another_journey():
    harness = run(SlowCheckout(), load(0), load(WINDOW + MINUTE), order(WINDOW + 2 * MINUTE))
    assert journeys(harness) == [
        ("/checkout/pay", "abandoned", WINDOW),
        ("/checkout/pay", "completed", WINDOW + 2 * MINUTE),
    ]


def test_a_slow_load_is_counted_by_its_outcome_not_as_a_journey_without_friction():
    harness = run(SlowCheckout(), load(0, 9000), order(MINUTE))
    assert [o.outcome for o in harness.outcomes] == ["completed"]
    assert journeys(harness) == []


def test_a_slow_load_inside_a_fast_journey_takes_it_over():
    harness = run(SlowCheckout(), load(0), load(MINUTE, 9000), order(2 * MINUTE))
    assert [o.outcome for o in harness.outcomes] == ["completed"]
    assert journeys(harness) == []


def test_no_journey_starts_before_the_findings_window_ends_so_one_order_counts_once():
    # The fast journey starting at 0 is taken over at 29 min; the fast load at 31 min is still
    # within the finding's window (until 59 min), so the order at 40 min completes only it.
    harness = run(
        SlowCheckout(), load(0), load(29 * MINUTE, 9000), load(31 * MINUTE), order(40 * MINUTE)
    )
    assert [(o.outcome, o.time_ms - T0) for o in harness.outcomes] == [("completed", 40 * MINUTE)]
    assert journeys(harness) == []
    after = run(SlowCheckout(), load(0, 9000), load(WINDOW + MINUTE), order(WINDOW + 2 * MINUTE))
    assert [o.outcome for o in after.outcomes] == ["abandoned"]
    assert journeys(after) == [("/checkout/pay", "completed", WINDOW + 2 * MINUTE)]


def test_an_order_before_the_load_does_not_complete_its_journey():
    harness = run(SlowCheckout(), order(0), load(MINUTE))
    assert journeys(harness) == [("/checkout/pay", "abandoned", MINUTE + WINDOW)]


def test_loads_without_a_session_or_user_or_off_the_checkout_start_nothing():
    anonymous = load(0, session_id=None, user_id=None)
    elsewhere = make_event("page_load", T0, page="/home", duration_ms=800)
    assert journeys(run(SlowCheckout(), anonymous, elsewhere)) == []


def test_the_journey_window_is_the_outcome_window():
    harness = run(SlowCheckout(outcome_window_s=60), load(0), order(2 * MINUTE))
    assert journeys(harness) == [("/checkout/pay", "abandoned", MINUTE)]


def test_a_redelivered_load_and_order_give_one_journey():
    first, placed = load(0, event_id="e-load"), order(MINUTE, event_id="e-order")
    harness = run(SlowCheckout(), first, first, placed, placed)
    assert journeys(harness) == [("/checkout/pay", "completed", MINUTE)]


def test_a_late_order_within_the_lateness_still_completes():
    harness = DetectorHarness(SlowCheckout(), allowed_lateness_ms=LATENESS_MS)
    harness.feed(load(0), order(WINDOW + 10 * SECOND), order(WINDOW - SECOND, event_id="e-x"))
    harness.advance(LATER)
    assert journeys(harness) == [("/checkout/pay", "completed", WINDOW - SECOND)]
    assert harness.late == 0


# -- repeated_form_submission: a submit of the form --------------------------------------------


def test_a_form_submitted_successfully_at_once_is_a_journey_completed_at_once():
    assert journeys(run(RepeatedFormSubmission(), submit(0, "success"))) == [
        ("signup", "completed", 0)
    ]


def test_a_form_that_fails_once_then_succeeds_is_completed_at_the_success():
    harness = run(RepeatedFormSubmission(), submit(0), submit(MINUTE, "success"))
    assert journeys(harness) == [("signup", "completed", MINUTE)]


def test_a_form_that_fails_and_is_left_is_abandoned():
    assert journeys(run(RepeatedFormSubmission(), submit(0))) == [("signup", "abandoned", WINDOW)]


def test_a_burst_of_submits_is_counted_by_its_outcome_only():
    harness = run(RepeatedFormSubmission(), submit(0), submit(SECOND), submit(2 * SECOND))
    assert harness.kinds() == ["repeated_submit"]
    assert [o.outcome for o in harness.outcomes] == ["abandoned"]
    assert journeys(harness) == []


def test_each_form_has_its_own_journey():
    harness = run(RepeatedFormSubmission(), submit(0), submit(SECOND, "success", form_id="login"))
    assert sorted(journeys(harness)) == [
        ("login", "completed", SECOND),
        ("signup", "abandoned", WINDOW),
    ]


# -- long_chat_wait: the first agent reply in time, or the end before one ----------------------


def test_an_answered_chat_starts_its_journey_at_the_reply_not_at_the_start():
    # The customer's opening message comes before the reply: it does not complete the journey.
    harness = run(
        LongChatWait(),
        chat("chat_started", 0, queue="billing"),
        chat("chat_message", 3 * SECOND, author="customer"),
        chat("chat_message", MINUTE, author="agent"),
        chat("chat_message", 2 * MINUTE, author="customer"),
    )
    assert journeys(harness) == [("billing", "completed", 2 * MINUTE)]


def test_an_answered_chat_that_ends_is_completed_at_its_end():
    harness = run(
        LongChatWait(),
        chat("chat_started", 0, queue="billing"),
        chat("chat_message", MINUTE, author="agent"),
        chat("chat_ended", 5 * MINUTE),
    )
    assert journeys(harness) == [("billing", "completed", 5 * MINUTE)]


def test_an_answered_chat_left_open_is_abandoned_at_the_reply_plus_the_window():
    harness = run(
        LongChatWait(),
        chat("chat_started", 0, queue="billing"),
        chat("chat_message", MINUTE, author="agent"),
        chat("chat_message", 2 * MINUTE, author="agent"),  # a second reply starts nothing
    )
    assert journeys(harness) == [("billing", "abandoned", MINUTE + WINDOW)]


def test_a_chat_ended_before_any_reply_within_the_limit_is_abandoned():
    harness = run(
        LongChatWait(), chat("chat_started", 0, queue="sales"), chat("chat_ended", MINUTE)
    )
    assert harness.findings == []
    assert journeys(harness) == [("sales", "abandoned", MINUTE + WINDOW)]


def test_a_slow_reply_is_counted_by_its_outcome_only():
    harness = run(
        LongChatWait(),
        chat("chat_started", 0, queue="billing"),
        chat("chat_message", 3 * MINUTE, author="agent"),
        chat("chat_ended", 5 * MINUTE),
    )
    assert harness.kinds() == ["slow_response"]
    assert [o.outcome for o in harness.outcomes] == ["completed"]
    assert journeys(harness) == []


# -- rage_click and error_click: an event of the session on a checkout page ----------------------


def test_a_checkout_click_starts_the_click_detectors_journey_with_its_page_group():
    for detector in (RageClick(), ErrorClick()):
        harness = run(detector, click(0), order(MINUTE))
        assert journeys(harness) == [("/checkout/pay", "completed", MINUTE)], detector.name


def test_clicks_elsewhere_or_without_a_page_start_nothing():
    for detector in (RageClick(), ErrorClick()):
        harness = run(detector, click(0, page="/home"), click(SECOND, page=None), order(MINUTE))
        assert journeys(harness) == [], detector.name


def test_an_error_on_a_checkout_page_starts_the_error_click_journey():
    error = make_event("js_error", T0, message="boom", page="/checkout/pay")
    assert journeys(run(ErrorClick(), error)) == [("/checkout/pay", "abandoned", WINDOW)]


def test_a_rage_click_on_the_checkout_takes_the_journey_over():
    harness = run(RageClick(), click(0), click(100), click(200), order(MINUTE))
    assert harness.kinds() == ["rage_click"]
    assert [o.outcome for o in harness.outcomes] == ["completed"]
    assert journeys(harness) == []


def test_a_click_findings_outcome_has_its_journeys_segment_the_page_group_not_the_target():
    """Both sides of the friction cost compare per segment: the outcome of a rage click on
    `button.pay` of /checkout/pay?step=2 and a journey without friction on that page group."""
    burst = [click(n * 100, page="/checkout/pay?step=2") for n in range(3)]
    harness = run(RageClick(), *burst, order(MINUTE))
    assert [f.segment for f in harness.findings] == ["button.pay"]
    assert [(o.segment, o.outcome) for o in harness.outcomes] == [("/checkout/pay", "completed")]
    assert journeys(run(RageClick(), click(0, page="/checkout/pay?step=2"))) == [
        ("/checkout/pay", "abandoned", WINDOW)
    ]


def test_a_rage_click_off_the_checkout_leaves_the_checkout_journey_without_friction():
    bursts = [click(n * 100, page="/home", target="a.menu") for n in range(3)]
    harness = run(RageClick(), click(0), *bursts, order(MINUTE))
    assert harness.kinds() == ["rage_click"] and harness.outcomes == []
    assert journeys(harness) == [("/checkout/pay", "completed", MINUTE)]


# -- the engine ------------------------------------------------------------------------------------


class OutcomesOnly(Detector):
    """A plugin's journey without `starts_journey`: outcomes, no base rate."""

    name = "outcomes_only"
    description = "x"
    consumes = types("page_load", "order_placed")
    journey = Journey(kinds=("slow",), window_param="window_s")
    params = {"window_s": Param(60, "x", minimum=1)}
    window_s: int

    def state_ttl_ms(self) -> int:
        return 1000

    def key(self, event: Event) -> str | None:
        return event.session_id

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        if event.type == "page_load":
            ctx.emit("slow", severity="info", subject={}, summary="", evidence={})

    def completes_journey(self, state: dict, event: Event) -> bool:
        return event.type == "order_placed"


class BrokenStart(SlowCheckout):
    name = "broken_start"

    def starts_journey(self, state: dict, event: Event) -> str | None:
        raise ValueError("a plugin's bug")


def test_a_journey_without_a_start_gives_outcomes_and_no_journeys():
    harness = run(OutcomesOnly(), load(0), order(SECOND))
    assert [o.outcome for o in harness.outcomes] == ["completed"] and journeys(harness) == []


def test_a_detector_raising_in_starts_journey_is_a_detector_error_and_the_stream_goes_on():
    errors = []

    class Errors(EngineObserver):
        def on_detector_error(self, detector, event, error):
            errors.append((detector, type(error)))

    engine = Engine([BrokenStart()], allowed_lateness_ms=0, observer=Errors())
    engine.process(event("page_load", 0, "e-1", page="/checkout", duration_ms=800))
    engine.process(event("page_load", MINUTE, "e-2", page="/checkout", duration_ms=9000))
    engine.advance(LATER)
    assert errors == [("broken_start", ValueError)]
    assert [o.outcome for o in engine.take_outcomes()] == ["abandoned"]


def test_an_open_journey_keeps_its_key_until_its_window_ends():
    harness = DetectorHarness(RepeatedFormSubmission())  # lifetime 15 min, window 30 min
    harness.feed(submit(0))
    harness.advance(T0 + 20 * MINUTE)
    assert len(harness.engine.store) == 1 and harness.journeys == []
    harness.advance(T0 + WINDOW + 1)
    assert journeys(harness) == [("signup", "abandoned", WINDOW)]
    assert len(harness.engine.store) == 0


def event(event_type: str, offset_ms: int, event_id: str, **attrs) -> Event:
    return Event(event_id, event_type, T0 + offset_ms, "u-1", "s-1", attrs)


class Counted(EngineObserver):
    def __init__(self) -> None:
        self.journeys: list[JourneyOutcome] = []

    def on_journey(self, journey: JourneyOutcome) -> None:
        self.journeys.append(journey)


def test_a_journey_opened_before_a_restart_is_decided_after_it():
    before = Engine([SlowCheckout()], allowed_lateness_ms=0)
    before.process(event("page_load", 0, "e-1", page="/checkout", duration_ms=800))
    before.advance(T0 + 1)
    counted = Counted()
    stored = orjson.loads(orjson.dumps(before.store))
    after = Engine([SlowCheckout()], allowed_lateness_ms=0, store=stored, observer=counted)
    after.restore()
    after.advance(LATER)
    assert [(j.outcome, j.time_ms - T0) for j in counted.journeys] == [("abandoned", WINDOW)]


def test_records_stored_before_journeys_and_segments_existed_still_load():
    # An open outcome of four fields (no segment) and no open journey, as outcomes stored them.
    old = {
        "s": {"last_finding": T0},
        "p": [],
        "t": {},
        "d": {"e-0": T0},
        "x": T0 + WINDOW,
        "o": [["f-1", "slow_load", T0, T0 + WINDOW]],
    }
    counted = Counted()
    engine = Engine(
        [SlowCheckout()], allowed_lateness_ms=0, store={"slow_checkout/s-1": old}, observer=counted
    )
    engine.restore()
    engine.process(event("order_placed", MINUTE, "e-2", order_id="o-1"))
    engine.process(event("page_load", WINDOW + MINUTE, "e-3", page="/checkout", duration_ms=800))
    engine.advance(LATER)
    (outcome,) = engine.take_outcomes()
    assert (outcome.outcome, outcome.segment) == ("completed", "")
    assert [(j.segment, j.outcome) for j in counted.journeys] == [("/checkout", "abandoned")]


def test_journeys_are_counted_per_detector_segment_and_outcome_from_zero():
    metrics = FrictionMetrics({"page_load"}, detectors=[SlowCheckout()])
    engine = Engine([SlowCheckout()], allowed_lateness_ms=0, observer=metrics)
    engine.process(event("page_load", 0, "e-1", page="/checkout/cart", duration_ms=800))
    engine.advance(T0 + 1)
    text = generate_latest(metrics.registry).decode()
    name = "friction_journeys_without_friction_total"
    for outcome in ("completed", "abandoned"):  # open: both at 0, so increase() sees the first
        assert (
            f'{name}{{detector="slow_checkout",outcome="{outcome}",segment="/checkout/cart"}} 0.0'
            in text
        )
    engine.process(event("order_placed", MINUTE, "e-2", order_id="o-1"))
    engine.advance(T0 + MINUTE + 1)
    text = generate_latest(metrics.registry).decode()
    assert (
        f'{name}{{detector="slow_checkout",outcome="completed",segment="/checkout/cart"}} 1.0'
        in text
    )


# -- properties ------------------------------------------------------------------------------------

property_settings = settings(max_examples=150, deadline=None)


def journeys_of(arrivals: list[Event]) -> list[tuple[str, str, str, int]]:
    counted = Counted()
    engine = Engine(contract_detectors(), allowed_lateness_ms=LATENESS_MS, observer=counted)
    for e in arrivals:
        engine.process(e)
    engine.advance(max((e.time for e in arrivals), default=T0) + 24 * 3600 * SECOND)
    return sorted((j.detector, j.segment, j.outcome, j.time_ms) for j in counted.journeys)


@property_settings
@given(event_streams(), st.randoms(use_true_random=False))
def test_arrival_within_lateness_gives_the_same_journeys_as_in_order(events, rng):
    assert journeys_of(arrival_order(events, LATENESS_MS, rng)) == journeys_of(events)


@settings(max_examples=100, deadline=None)
@given(event_streams(), st.randoms(use_true_random=False), st.floats(0, 1))
def test_restore_after_restart_gives_the_same_journeys_as_an_uninterrupted_run(events, rng, cut):
    arrivals = arrival_order(events, LATENESS_MS, rng)
    split = int(len(arrivals) * cut)
    end = LATER + 7 * 24 * 3600 * SECOND
    expected = journeys_of(arrivals)

    counted = Counted()
    before = Engine(contract_detectors(), allowed_lateness_ms=LATENESS_MS, observer=counted)
    for e in arrivals[:split]:
        before.process(e)
    stored = orjson.loads(orjson.dumps(before.store))
    after = Engine(
        contract_detectors(), allowed_lateness_ms=LATENESS_MS, store=stored, observer=counted
    )
    after.restore()
    for e in arrivals[split:]:
        after.process(e)
    after.advance(end)
    found = sorted((j.detector, j.segment, j.outcome, j.time_ms) for j in counted.journeys)
    assert found == expected


def test_replay_summary_ends_with_completion_after_friction_and_without():
    events = [
        load(0, 9000, session_id="s-slow"),
        order(MINUTE, session_id="s-slow"),
        load(0, session_id="s-a"),
        order(MINUTE, session_id="s-a"),
        load(0, session_id="s-b"),
        load(0, session_id="s-c"),
        make_event("page_view", LATER, page="/home"),  # moves the watermark past every window
    ]
    source = io.BytesIO(b"".join(orjson.dumps(e) + b"\n" for e in events))
    config = build_config({"detectors": {"enable": ["slow_checkout"]}})
    summary = replay(source, config, io.BytesIO(), io.BytesIO(), "events.jsonl")
    assert summary.render().endswith(
        "journeys completed (after friction / without friction, of those decided):\n"
        "  slow_checkout: 1 of 1 (100%) / 1 of 3 (33%)"
    )


def test_a_journey_without_completes_journey_or_with_kinds_not_a_tuple_is_refused() -> None:
    """Without `completes_journey` every outcome would be `abandoned`, silently; a string of
    kinds would match single letters. Both are the author's mistake, said where the class is."""

    def declare(**body) -> None:
        base = {
            "name": "j",
            "description": "x",
            "consumes": types("page_load"),
            "params": {"window_s": Param(60, "x", minimum=1)},
            "__annotations__": {"window_s": int},
            "state_ttl_ms": lambda self: 1000,
            "key": lambda self, event: event.session_id,
            "on_event": lambda self, state, event, ctx: None,
        }
        type("J", (Detector,), {**base, **body})

    declare(
        journey=Journey(kinds=("slow",), window_param="window_s"),
        completes_journey=lambda self, state, event: True,
    )
    with pytest.raises(TypeError, match="implements completes_journey"):
        declare(journey=Journey(kinds=("slow",), window_param="window_s"))
    with pytest.raises(TypeError, match="tuple of finding kinds"):
        declare(
            journey=Journey(kinds="slow", window_param="window_s"),  # type: ignore[arg-type]
            completes_journey=lambda self, state, event: True,
        )
