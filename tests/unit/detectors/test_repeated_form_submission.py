"""`repeated_form_submission`: 3 or more submits of one form in one session within 120 s."""

from __future__ import annotations

from friction_detector.detectors.builtin.repeated_form_submission import RepeatedFormSubmission
from friction_detector.detectors.testing import DetectorHarness, at, make_event

T0 = at("2026-11-22T10:00:00Z")
SECOND = 1000
LATER = T0 + 24 * 3600 * SECOND


def submit(offset_ms: int, form_id: str = "signup", outcome: str = "error", **kw) -> dict:
    return make_event("form_submit", T0 + offset_ms, form_id=form_id, outcome=outcome, **kw)


def burst(start_ms: int, count: int = 3, step_ms: int = 10 * SECOND, **kw) -> list[dict]:
    return [submit(start_ms + i * step_ms, **kw) for i in range(count)]


def run(*events: dict, **harness_kw) -> DetectorHarness:
    harness = DetectorHarness(RepeatedFormSubmission(), **harness_kw)
    harness.feed(*events)
    harness.advance(LATER)
    return harness


def test_two_submits_within_120_s_give_nothing():
    assert run(*burst(0, count=2)).findings == []


def test_three_submits_within_120_s_give_a_finding():
    assert run(*burst(0, count=3)).kinds() == ["repeated_submit"]


def test_three_submits_spanning_exactly_120_s_give_a_finding():
    assert run(*burst(0, count=3, step_ms=60 * SECOND)).kinds() == ["repeated_submit"]


def test_three_submits_spanning_120_001_s_give_nothing():
    events = [submit(0), submit(60 * SECOND), submit(120 * SECOND + 1)]
    assert run(*events).findings == []


def test_submits_spread_over_more_than_120_s_give_nothing():
    assert run(*burst(0, count=6, step_ms=61 * SECOND)).findings == []


def test_finding_carries_contract_fields_and_evidence():
    events = [
        submit(0, outcome="error", error_fields=["email"]),
        submit(20 * SECOND, outcome="success"),
        submit(45 * SECOND, outcome="error", error_fields=["email", "password"]),
    ]
    (finding,) = run(*events).findings
    assert finding.detector == "repeated_form_submission"
    assert finding.kind == "repeated_submit"
    assert finding.severity == "warning"
    assert finding.time_ms == T0 + 45 * SECOND
    assert finding.subject == {"session_id": "s-1", "form_id": "signup"}
    assert finding.user_id == "u-1"
    assert finding.session_id == "s-1"
    assert finding.segment == "signup"
    assert finding.evidence == {
        "submits": 3,
        "min_submits": 3,
        "window_ms": 120_000,
        "errors": 2,
        "error_fields": ["email", "password"],
    }
    assert "3 times within 45 s" in finding.summary


def test_one_finding_per_burst_however_long_it_runs():
    assert run(*burst(0, count=20, step_ms=30 * SECOND)).kinds() == ["repeated_submit"]


def test_new_burst_after_a_gap_longer_than_120_s_gives_a_second_finding():
    second_start = 20 * SECOND + 120 * SECOND + 1
    harness = run(*burst(0), *burst(second_start))
    assert [f.time_ms for f in harness.findings] == [
        T0 + 20 * SECOND,
        T0 + second_start + 20 * SECOND,
    ]


def test_gap_of_exactly_120_s_continues_the_burst():
    events = burst(0) + burst(20 * SECOND + 120 * SECOND)
    assert len(run(*events).findings) == 1


def test_error_count_restarts_with_a_new_burst():
    events = burst(0, outcome="error") + burst(300 * SECOND, outcome="success")
    assert [f.evidence["errors"] for f in run(*events).findings] == [3, 0]


def test_different_forms_are_counted_apart():
    events = burst(0, count=2, form_id="signup") + burst(1, count=2, form_id="login")
    assert run(*events).findings == []


def test_different_sessions_are_counted_apart():
    events = burst(0, count=2, session_id="s-1") + burst(1, count=2, session_id="s-2")
    assert run(*events).findings == []


def test_submits_without_session_are_keyed_by_user():
    (finding,) = run(*burst(0, session_id=None, user_id="u-9")).findings
    assert finding.subject == {"session_id": "u-9", "form_id": "signup"}
    assert finding.session_id is None


def test_submits_without_session_or_user_are_ignored():
    assert run(*burst(0, session_id=None, user_id=None)).findings == []


def test_minimum_and_window_are_configurable():
    harness = DetectorHarness(RepeatedFormSubmission(min_submits=2, window_s=10))
    harness.feed(submit(0), submit(11 * SECOND), submit(20 * SECOND))
    harness.advance(LATER)
    assert [f.time_ms for f in harness.findings] == [T0 + 20 * SECOND]


def test_same_event_delivered_three_times_counts_once():
    event = submit(0)
    harness = run(event, event, event)
    assert harness.findings == []
    assert harness.duplicates == 2


def test_redelivery_inside_a_burst_does_not_inflate_the_count():
    first, second, third = burst(0)
    (finding,) = run(first, second, second, third).findings
    assert finding.evidence["submits"] == 3
    assert finding.time_ms == third["time"]


def test_submits_out_of_order_within_lateness_give_the_in_order_finding():
    first, second, third = burst(0)
    (finding,) = run(third, first, second, allowed_lateness_ms=30_000).findings
    assert finding.time_ms == third["time"]
    assert finding.summary.endswith("within 20 s: the customer may be stuck.")


def test_submit_behind_the_watermark_is_counted_late_and_still_applied():
    first, second, third = burst(0)
    harness = run(first, third, submit(90 * SECOND, form_id="other"), second)
    assert harness.late == 1
    assert harness.kinds() == ["repeated_submit"]


def test_submit_with_bad_outcome_is_bad_input_and_not_counted():
    events = [submit(0), submit(1, outcome="retry"), submit(2)]
    harness = run(*events)
    assert [bad.reason for bad in harness.bad] == ["invalid_value"]
    assert harness.findings == []
