"""Outcomes: each finding of a journey detector is completed within its window, or abandoned at
the window's end, in event time, whatever the arrival order within the lateness."""

from __future__ import annotations

import io

import orjson
import pytest
from contract_stream import (
    SECOND,
    T0,
    arrival_order,
    contract_detectors,
    contract_only,
    event_streams,
)
from friction_detector.detectors.builtin.error_click import ErrorClick
from friction_detector.detectors.builtin.late_reset_email import LateResetEmail
from friction_detector.detectors.builtin.long_chat_wait import LongChatWait
from friction_detector.detectors.builtin.rage_click import RageClick
from friction_detector.detectors.builtin.repeated_form_submission import RepeatedFormSubmission
from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
from friction_detector.detectors.config import build_config
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.events import Event
from friction_detector.detectors.outcomes import Outcome
from friction_detector.detectors.testing import DetectorHarness, make_event
from friction_detector.streams.cli.main import main
from friction_detector.streams.cli.replay import replay
from friction_detector.streams.cli.tail import describe
from friction_detector.streams.observability.metrics import FrictionMetrics
from hypothesis import given, settings
from hypothesis import strategies as st
from journey_events import LATER, MINUTE, WINDOW, checkout_load, order, run, submit
from prometheus_client import generate_latest


def slow_load(offset_ms: int = 0, session_id: str | None = "s-1", **kw) -> dict:
    return checkout_load(offset_ms, 9000, "/checkout/pay", session_id, **kw)


def decided(harness: DetectorHarness) -> list[tuple[str, str, int]]:
    """(kind, outcome, ms after T0) of each outcome, in the order decided."""
    return [(o.kind, o.outcome, o.time_ms - T0) for o in harness.outcomes]


def outcome_of(harness: DetectorHarness, session_id: str) -> tuple[str, int]:
    """(outcome, ms after T0) of the one finding of a session."""
    (finding,) = [f for f in harness.findings if f.session_id == session_id]
    (outcome,) = [o for o in harness.outcomes if o.finding_id == finding.finding_id]
    return outcome.outcome, outcome.time_ms - T0


# -- slow_checkout -----------------------------------------------------------------------------


def test_order_within_the_window_completes_the_slow_checkout_at_the_order_time():
    harness = run(SlowCheckout(), slow_load(0), order(10 * MINUTE))
    assert decided(harness) == [("slow_load", "completed", 10 * MINUTE)]
    (finding,) = harness.findings
    assert harness.outcomes[0].finding_id == finding.finding_id
    assert harness.outcomes[0].detector == "slow_checkout"


def test_no_order_abandons_the_slow_checkout_at_the_deadline():
    harness = run(SlowCheckout(), slow_load(0))
    assert decided(harness) == [("slow_load", "abandoned", WINDOW)]


def test_order_at_the_deadline_itself_completes():
    assert decided(run(SlowCheckout(), slow_load(0), order(WINDOW))) == [
        ("slow_load", "completed", WINDOW)
    ]


def test_order_after_the_window_is_abandoned():
    assert decided(run(SlowCheckout(), slow_load(0), order(WINDOW + 1))) == [
        ("slow_load", "abandoned", WINDOW)
    ]


def test_order_before_the_slow_load_does_not_complete_it():
    assert decided(run(SlowCheckout(), order(-1), slow_load(0))) == [
        ("slow_load", "abandoned", WINDOW)
    ]


def test_order_of_another_session_does_not_complete():
    harness = run(SlowCheckout(), slow_load(0), order(MINUTE, session_id="s-2"))
    assert decided(harness) == [("slow_load", "abandoned", WINDOW)]


def test_abandoned_is_decided_only_when_the_watermark_passes_the_deadline():
    harness = DetectorHarness(SlowCheckout())
    harness.feed(slow_load(0))
    harness.advance(T0 + WINDOW)
    assert harness.outcomes == []
    harness.advance(T0 + WINDOW + 1)
    assert decided(harness) == [("slow_load", "abandoned", WINDOW)]


def test_late_order_within_the_lateness_still_completes():
    # Another session's event moves the watermark to 10 s before the deadline; the order, older
    # than that event but not behind the watermark, arrives after it.
    harness = run(
        SlowCheckout(),
        slow_load(0),
        slow_load(WINDOW + 50 * SECOND, session_id="s-2"),
        order(WINDOW - 5 * SECOND),
        lateness_ms=60 * SECOND,
    )
    assert harness.late == 0
    assert outcome_of(harness, "s-1") == ("completed", WINDOW - 5 * SECOND)


def test_order_behind_the_watermark_after_the_deadline_changes_nothing():
    harness = run(
        SlowCheckout(),
        slow_load(0),
        slow_load(WINDOW + 2 * MINUTE, session_id="s-2"),
        order(WINDOW - 5 * SECOND),
        lateness_ms=60 * SECOND,
    )
    assert harness.late == 1
    assert outcome_of(harness, "s-1") == ("abandoned", WINDOW)
    assert len(harness.outcomes) == 2  # and s-2's own


def test_window_is_a_parameter():
    harness = run(SlowCheckout(outcome_window_s=60), slow_load(0), order(2 * MINUTE))
    assert decided(harness) == [("slow_load", "abandoned", MINUTE)]


def test_window_is_overridable_in_the_configuration():
    config = build_config({"detectors": {"slow_checkout": {"outcome_window_s": 60}}})
    (detector,) = [d for d in config.detectors if d.name == "slow_checkout"]
    assert detector.journey_window_ms() == MINUTE


def test_redelivered_order_gives_one_outcome():
    again = order(MINUTE, event_id="e-order")
    assert decided(run(SlowCheckout(), slow_load(0), again, dict(again))) == [
        ("slow_load", "completed", MINUTE)
    ]


# -- repeated_form_submission ------------------------------------------------------------------


def test_success_of_the_same_form_completes_the_repeated_submission():
    harness = run(
        RepeatedFormSubmission(), submit(0), submit(SECOND), submit(2 * SECOND),
        submit(5 * MINUTE, "success"),
    )  # fmt: skip
    assert decided(harness) == [("repeated_submit", "completed", 5 * MINUTE)]


def test_the_submit_that_makes_the_finding_completes_it_when_it_succeeds():
    harness = run(RepeatedFormSubmission(), submit(0), submit(SECOND), submit(2000, "success"))
    assert harness.kinds() == ["repeated_submit"]
    assert decided(harness) == [("repeated_submit", "completed", 2000)]


def test_no_success_abandons_the_form_at_the_deadline():
    harness = run(RepeatedFormSubmission(), submit(0), submit(SECOND), submit(2 * SECOND))
    assert decided(harness) == [("repeated_submit", "abandoned", 2 * SECOND + WINDOW)]


def test_success_after_the_window_or_of_another_form_is_abandoned():
    harness = run(
        RepeatedFormSubmission(), submit(0), submit(SECOND), submit(2 * SECOND),
        submit(MINUTE, "success", form_id="login"), submit(2 * SECOND + WINDOW + 1, "success"),
    )  # fmt: skip
    assert decided(harness) == [("repeated_submit", "abandoned", 2 * SECOND + WINDOW)]


def test_late_success_within_the_lateness_still_completes():
    deadline = 2 * SECOND + WINDOW
    harness = DetectorHarness(RepeatedFormSubmission(), allowed_lateness_ms=60 * SECOND)
    harness.feed(submit(0), submit(SECOND), submit(2 * SECOND))
    harness.feed(slow_load(deadline + 50 * SECOND))  # moves event time, not a form's key
    harness.feed(submit(deadline, "success"))
    harness.advance(LATER)
    assert harness.late == 0
    assert decided(harness) == [("repeated_submit", "completed", deadline)]


# -- long_chat_wait ----------------------------------------------------------------------------


def chat(event_type: str, offset_ms: int, author: str | None = None) -> dict:
    attrs: dict = {"conversation_id": "c-1"}
    if author is not None:
        attrs["author"] = author
    return make_event(event_type, T0 + offset_ms, **attrs)


def test_customer_writing_again_completes_a_slow_response():
    harness = run(
        LongChatWait(), chat("chat_started", 0), chat("chat_message", 3 * MINUTE, "agent"),
        chat("chat_message", 4 * MINUTE, "customer"),
    )  # fmt: skip
    assert decided(harness) == [("slow_response", "completed", 4 * MINUTE)]


def test_an_answered_chat_ending_completes_a_slow_response():
    harness = run(
        LongChatWait(), chat("chat_started", 0), chat("chat_message", 3 * MINUTE, "agent"),
        chat("chat_message", 4 * MINUTE, "agent"), chat("chat_ended", 5 * MINUTE),
    )  # fmt: skip
    assert decided(harness) == [("slow_response", "completed", 5 * MINUTE)]


def test_a_chat_that_ends_unanswered_is_abandoned():
    harness = run(LongChatWait(), chat("chat_started", 0), chat("chat_ended", 3 * MINUTE))
    assert decided(harness) == [("unanswered", "abandoned", 3 * MINUTE + WINDOW)]


def test_an_unanswered_chat_ending_still_unanswered_is_abandoned():
    harness = run(LongChatWait(), chat("chat_started", 0), chat("chat_ended", 12 * MINUTE))
    assert harness.kinds() == ["unanswered"]
    assert decided(harness) == [("unanswered", "abandoned", 10 * MINUTE + WINDOW)]


def test_an_unanswered_chat_answered_late_then_ended_is_completed():
    harness = run(
        LongChatWait(), chat("chat_started", 0), chat("chat_message", 12 * MINUTE, "agent"),
        chat("chat_ended", 13 * MINUTE),
    )  # fmt: skip
    assert decided(harness) == [("unanswered", "completed", 13 * MINUTE)]


def test_a_customer_message_before_the_finding_does_not_complete_it():
    harness = run(
        LongChatWait(), chat("chat_started", 0), chat("chat_message", MINUTE, "customer"),
        chat("chat_message", 3 * MINUTE, "agent"), chat("chat_message", 4 * MINUTE, "bot"),
    )  # fmt: skip
    assert decided(harness) == [("slow_response", "abandoned", 3 * MINUTE + WINDOW)]


def test_late_customer_message_within_the_lateness_still_completes():
    deadline = 10 * MINUTE + WINDOW
    harness = DetectorHarness(LongChatWait(), allowed_lateness_ms=60 * SECOND)
    harness.feed(chat("chat_started", 0))
    other = make_event("chat_started", T0 + deadline + 50 * SECOND, conversation_id="c-2")
    harness.feed(other, chat("chat_message", deadline, "customer"))
    harness.advance(T0 + deadline + 2 * MINUTE)
    assert harness.late == 0
    assert decided(harness)[0] == ("unanswered", "completed", deadline)


# -- rage and error clicks on checkout pages ---------------------------------------------------


def click(offset_ms: int, page: str = "/checkout/pay", target: str = "button#pay") -> dict:
    return make_event("click", T0 + offset_ms, target=target, x=10, y=10, page=page)


def js_error(offset_ms: int, page: str = "/checkout/pay") -> dict:
    return make_event("js_error", T0 + offset_ms, message="boom", page=page)


def test_order_completes_a_rage_click_on_a_checkout_page():
    harness = run(RageClick(), click(0), click(200), click(400), order(5 * MINUTE))
    assert decided(harness) == [("rage_click", "completed", 5 * MINUTE)]


def test_rage_click_on_a_checkout_page_without_an_order_is_abandoned():
    harness = run(RageClick(), click(0), click(200), click(400))
    assert decided(harness) == [("rage_click", "abandoned", 400 + WINDOW)]


def test_rage_click_elsewhere_or_without_a_page_gets_no_outcome():
    elsewhere = [click(t, page="/help") for t in (0, 200, 400)]
    unknown = [make_event("click", T0 + t, target="a#x", x=500, y=500) for t in (0, 200, 400)]
    harness = run(RageClick(), *elsewhere, *unknown, order(MINUTE))
    assert harness.kinds() == ["rage_click", "rage_click"]
    assert harness.outcomes == []


def test_order_completes_an_error_click_on_a_checkout_page():
    harness = run(ErrorClick(), click(0), js_error(100), order(WINDOW + 100))
    assert decided(harness) == [("error_click", "completed", WINDOW + 100)]


def test_error_click_page_prefix_is_a_parameter():
    harness = run(ErrorClick(outcome_page_prefix="/cart"), click(0), js_error(100))
    assert harness.kinds() == ["error_click"] and harness.outcomes == []


# -- the core ----------------------------------------------------------------------------------


def test_an_open_outcome_does_not_keep_the_detector_state_of_a_reused_key():
    # The first chat's key is idle past its 15 min lifetime at 20 min, its outcome still open:
    # the same conversation id then starts a new chat, found on its own.
    harness = run(
        LongChatWait(), chat("chat_started", 0), chat("chat_ended", 3 * MINUTE),
        chat("chat_started", 20 * MINUTE), chat("chat_ended", 25 * MINUTE),
    )  # fmt: skip
    assert harness.kinds() == ["unanswered", "unanswered"]
    assert decided(harness) == [
        ("unanswered", "abandoned", 3 * MINUTE + WINDOW),
        ("unanswered", "abandoned", 25 * MINUTE + WINDOW),
    ]


def test_a_detector_without_a_journey_gives_no_outcome():
    request = make_event("password_reset_requested", T0, request_id="r-1")
    harness = run(LateResetEmail(), request)
    assert harness.kinds() == ["missing"] and harness.outcomes == []


def test_outcome_record_is_its_own_type_and_findings_keep_their_form():
    harness = run(SlowCheckout(), slow_load(0), order(MINUTE))
    record = orjson.loads(harness.outcomes[0].to_json())
    assert record == {
        "record_type": "outcome",
        "finding_id": harness.findings[0].finding_id,
        "detector": "slow_checkout",
        "kind": "slow_load",
        "outcome": "completed",
        "time": "2026-11-22T10:01:00.000Z",
        "segment": "/checkout/pay",
    }
    assert "record_type" not in orjson.loads(harness.findings[0].to_json())


def test_an_open_outcome_keeps_its_key_past_the_detector_lifetime():
    harness = DetectorHarness(SlowCheckout(outcome_window_s=3 * 3600))
    harness.feed(slow_load(0))
    harness.advance(T0 + 2 * 3600 * SECOND)  # past the 30 min lifetime, before the deadline
    assert len(harness.engine.store) == 1
    harness.advance(LATER)
    assert decided(harness) == [("slow_load", "abandoned", 3 * 3600 * SECOND)]
    assert len(harness.engine.store) == 0


def event(event_type: str, offset_ms: int, event_id: str, **attrs) -> Event:
    return Event(event_id, event_type, T0 + offset_ms, "u-1", "s-1", attrs)


def test_restored_engine_decides_an_outcome_opened_before_the_restart():
    detectors = [SlowCheckout()]
    before = Engine(detectors, allowed_lateness_ms=0)
    before.process(event("page_load", 0, "e-1", page="/checkout", duration_ms=9000))
    after = Engine(detectors, allowed_lateness_ms=0, store=orjson.loads(orjson.dumps(before.store)))
    after.restore()
    after.advance(LATER)
    assert [(o.outcome, o.time_ms - T0) for o in after.take_outcomes()] == [("abandoned", WINDOW)]


def test_a_record_stored_before_outcomes_existed_still_loads():
    old = {"s": {}, "p": [], "t": {}, "d": {}, "x": T0 + WINDOW}
    engine = Engine([SlowCheckout()], allowed_lateness_ms=0, store={"slow_checkout/s-1": old})
    engine.restore()
    engine.process(event("page_load", MINUTE, "e-1", page="/checkout", duration_ms=9000))
    engine.process(event("order_placed", 2 * MINUTE, "e-2", order_id="o-1"))
    engine.advance(LATER)
    assert [o.outcome for o in engine.take_outcomes()] == ["completed"]


@settings(max_examples=100, deadline=None)
@given(event_streams(), st.randoms(use_true_random=False), st.floats(0, 1))
def test_restore_after_restart_gives_the_same_outcomes_as_an_uninterrupted_run(events, rng, cut):
    arrivals = arrival_order(events, 30 * SECOND, rng)
    split = int(len(arrivals) * cut)
    end = LATER + 7 * 24 * 3600 * SECOND

    def outcomes(engine: Engine, events: list[Event]) -> list[Outcome]:
        for e in events:
            engine.process(e)
        return engine.take_outcomes()

    uninterrupted = Engine(contract_detectors(), allowed_lateness_ms=30 * SECOND)
    expected = outcomes(uninterrupted, arrivals)
    uninterrupted.advance(end)
    expected += uninterrupted.take_outcomes()

    before = Engine(contract_detectors(), allowed_lateness_ms=30 * SECOND)
    found = outcomes(before, arrivals[:split])
    stored = orjson.loads(orjson.dumps(before.store))
    after = Engine(contract_detectors(), allowed_lateness_ms=30 * SECOND, store=stored)
    after.restore()
    found += outcomes(after, arrivals[split:])
    after.advance(end)
    found += after.take_outcomes()
    assert sorted(map(repr, found)) == sorted(map(repr, expected))


# -- outputs -----------------------------------------------------------------------------------


def test_outcomes_are_counted_per_detector_segment_and_outcome_from_zero():
    metrics = FrictionMetrics({"page_load"}, detectors=[SlowCheckout(), LateResetEmail()])
    engine = Engine([SlowCheckout()], allowed_lateness_ms=0, observer=metrics)
    engine.process(event("page_load", 0, "e-1", page="/checkout/pay", duration_ms=9000))
    engine.advance(T0 + 1)
    text = generate_latest(metrics.registry).decode()
    for outcome in ("completed", "abandoned"):  # open: both at 0, so increase() sees the first
        series = f'detector="slow_checkout",outcome="{outcome}",segment="/checkout/pay"'
        assert f"friction_outcomes_total{{{series}}} 0.0" in text
    assert 'friction_outcomes_total{detector="late_reset_email"' not in text
    engine.process(event("order_placed", MINUTE, "e-2", order_id="o-1"))
    engine.advance(T0 + MINUTE + 1)
    text = generate_latest(metrics.registry).decode()
    series = 'detector="slow_checkout",outcome="completed",segment="/checkout/pay"'
    assert f"friction_outcomes_total{{{series}}} 1.0" in text


def jsonl(*events: dict) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


STREAM = jsonl(
    slow_load(0, session_id="s-1", event_id="e-1"),
    slow_load(SECOND, session_id="s-2", event_id="e-2"),
    order(10 * MINUTE, session_id="s-1", event_id="e-3"),
    make_event("page_view", T0 + 2 * WINDOW, page="/home", event_id="e-4"),
)


def test_replay_writes_outcomes_to_their_own_file_and_findings_unchanged(tmp_path):
    source = tmp_path / "events.jsonl"
    source.write_bytes(STREAM)
    config = tmp_path / "friction.toml"
    config.write_text('[detectors]\nenable = ["slow_checkout"]\n')
    findings_path, outcomes_path = tmp_path / "findings.jsonl", tmp_path / "outcomes.jsonl"
    status = main([
        "replay", str(source), "--config", str(config), "--findings", str(findings_path),
        "--outcomes", str(outcomes_path), "--dead-letter", str(tmp_path / "bad.jsonl"),
    ])  # fmt: skip
    assert status == 0
    findings = [orjson.loads(line) for line in findings_path.read_bytes().splitlines()]
    outcomes = [orjson.loads(line) for line in outcomes_path.read_bytes().splitlines()]
    by_session = {f["session_id"]: f["finding_id"] for f in findings}
    assert all("record_type" not in f for f in findings)
    assert [(o["finding_id"], o["outcome"], o["time"]) for o in outcomes] == [
        (by_session["s-1"], "completed", "2026-11-22T10:10:00.000Z"),
        (by_session["s-2"], "abandoned", "2026-11-22T10:30:01.000Z"),
    ]
    assert {o["detector"] for o in outcomes} == {"slow_checkout"}
    assert {o["kind"] for o in outcomes} == {"slow_load"}


@pytest.mark.parametrize("with_outcomes", [False, True])
def test_replay_findings_are_the_same_with_or_without_outcomes(with_outcomes):
    config = build_config(contract_only())
    findings = io.BytesIO()
    outcomes = io.BytesIO() if with_outcomes else None
    replay(io.BytesIO(STREAM), config, findings, io.BytesIO(), "t", outcomes_out=outcomes)
    plain = io.BytesIO()
    replay(io.BytesIO(STREAM), config, plain, io.BytesIO(), "t")
    assert findings.getvalue() == plain.getvalue()
    if outcomes is not None:
        assert outcomes.getvalue().count(b"\n") == 2


def test_tail_shows_an_outcome_as_one_line_of_its_own():
    value = Outcome("f-1", "slow_checkout", "slow_load", "abandoned", T0).to_json()
    assert describe("friction-findings", value) == (
        "2026-11-22T10:00:00.000Z  abandoned slow_checkout/slow_load  finding f-1"
    )
