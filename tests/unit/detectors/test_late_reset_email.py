"""`late_reset_email`: an email more than 60 s after the request is late, none by 10 min missing."""

from __future__ import annotations

from friction_detector.detectors.builtin.late_reset_email import LateResetEmail
from friction_detector.detectors.testing import DetectorHarness, at, make_event

T0 = at("2026-11-22T10:00:00Z")
SECOND = 1000
DEADLINE = T0 + 600 * SECOND
LATER = T0 + 24 * 3600 * SECOND


def requested(offset_ms: int = 0, request_id: str = "r-7", **kw) -> dict:
    return make_event("password_reset_requested", T0 + offset_ms, request_id=request_id, **kw)


def delivered(offset_ms: int, request_id: str = "r-7", **kw) -> dict:
    return make_event("email_delivered", T0 + offset_ms, request_id=request_id, **kw)


def run(*events: dict, **harness_kw) -> DetectorHarness:
    harness = DetectorHarness(LateResetEmail(), **harness_kw)
    harness.feed(*events)
    harness.advance(LATER)
    return harness


def test_email_exactly_60_s_after_request_is_not_late():
    assert run(requested(), delivered(60 * SECOND)).findings == []


def test_email_60_001_s_after_request_is_late():
    assert run(requested(), delivered(60 * SECOND + 1)).kinds() == ["late"]


def test_late_finding_carries_contract_fields_and_evidence():
    harness = run(
        requested(user_id="u-42", session_id="s-9"),
        delivered(95 * SECOND, user_id=None, session_id=None, template="reset_v2"),
    )
    (finding,) = harness.findings
    assert finding.detector == "late_reset_email"
    assert finding.kind == "late"
    assert finding.severity == "warning"
    assert finding.time_ms == T0 + 95 * SECOND
    assert finding.subject == {"request_id": "r-7"}
    assert finding.user_id == "u-42"
    assert finding.session_id == "s-9"
    assert finding.evidence == {
        "delay_ms": 95_000,
        "late_after_ms": 60_000,
        "missing_after_ms": 600_000,
    }
    assert finding.segment == "reset_v2"
    assert "95 s" in finding.summary


def test_missing_email_does_not_fire_while_watermark_is_at_the_deadline():
    harness = DetectorHarness(LateResetEmail())
    harness.feed(requested())
    assert harness.advance(DEADLINE - 1) == []
    assert harness.advance(DEADLINE) == []


def test_missing_email_fires_once_the_watermark_passes_the_deadline():
    harness = DetectorHarness(LateResetEmail())
    harness.feed(requested())
    harness.advance(DEADLINE)
    assert [f.kind for f in harness.advance(DEADLINE + 1)] == ["missing"]


def test_missing_finding_is_critical_at_the_deadline_with_the_wait_so_far():
    harness = run(requested(user_id="u-42", session_id="s-9"))
    (finding,) = harness.findings
    assert finding.kind == "missing"
    assert finding.severity == "critical"
    assert finding.time_ms == DEADLINE
    assert finding.subject == {"request_id": "r-7"}
    assert finding.user_id == "u-42"
    assert finding.session_id == "s-9"
    assert finding.evidence == {
        "delay_ms": 600_000,
        "late_after_ms": 60_000,
        "missing_after_ms": 600_000,
    }


def test_missing_deadline_fires_from_the_watermark_of_later_events():
    harness = DetectorHarness(LateResetEmail(), allowed_lateness_ms=30_000)
    harness.feed(requested())
    # The watermark is the highest event time minus the 30 s lateness.
    assert harness.feed(requested(630 * SECOND, request_id="r-other")) == []
    fired = harness.feed(requested(630 * SECOND + 1, request_id="r-other-2"))
    assert [(f.kind, f.subject) for f in fired] == [("missing", {"request_id": "r-7"})]


def test_email_exactly_at_the_deadline_is_late_not_missing():
    harness = run(requested(), delivered(600 * SECOND))
    assert harness.kinds() == ["late"]
    assert harness.findings[0].evidence["delay_ms"] == 600_000


def test_email_after_missing_gives_nothing_more():
    harness = DetectorHarness(LateResetEmail())
    harness.feed(requested())
    harness.advance(DEADLINE + 1)
    harness.feed(delivered(700 * SECOND))
    harness.advance(LATER)
    assert harness.kinds() == ["missing"]


def test_email_after_missing_is_counted_once_as_missing_not_measured_again():
    harness = DetectorHarness(LateResetEmail())
    harness.feed(requested())
    harness.advance(DEADLINE + 1)
    harness.feed(delivered(700 * SECOND))
    harness.advance(LATER)
    assert harness.kinds() == ["missing"]
    assert harness.measurements == []


def test_a_delivered_email_is_measured_once():
    harness = run(requested(), delivered(90 * SECOND), delivered(95 * SECOND, event_id="again"))
    assert harness.measurements == [("reset_email_delay", 90.0, "password_reset")]


def test_email_on_time_cancels_the_missing_deadline():
    assert run(requested(), delivered(5 * SECOND)).findings == []


def test_second_email_for_the_same_request_gives_nothing_more():
    assert run(requested(), delivered(70 * SECOND), delivered(90 * SECOND)).kinds() == ["late"]


def test_second_email_after_a_timely_one_is_not_late():
    assert run(requested(), delivered(5 * SECOND), delivered(300 * SECOND)).findings == []


def test_repeated_request_with_same_request_id_gives_one_finding():
    harness = run(requested(0), requested(10 * SECOND))
    assert harness.kinds() == ["missing"]
    assert harness.findings[0].time_ms == DEADLINE


def test_each_request_id_gets_its_own_finding():
    harness = run(requested(0, "r-1"), requested(1, "r-2"), delivered(61 * SECOND, "r-2"))
    assert sorted((f.subject["request_id"], f.kind) for f in harness.findings) == [
        ("r-1", "missing"),
        ("r-2", "late"),
    ]


def test_email_without_request_is_ignored():
    assert run(delivered(0)).findings == []


def test_limits_are_configurable():
    harness = DetectorHarness(LateResetEmail(late_after_s=10, missing_after_s=30))
    harness.feed(requested(0, "r-1"), delivered(11 * SECOND, "r-1"), requested(0, "r-2"))
    harness.advance(T0 + 30 * SECOND + 1)
    assert sorted((f.subject["request_id"], f.kind, f.time_ms) for f in harness.findings) == [
        ("r-1", "late", T0 + 11 * SECOND),
        ("r-2", "missing", T0 + 30 * SECOND),
    ]


def test_redelivered_request_is_counted_as_duplicate():
    event = requested()
    harness = run(event, event)
    assert harness.duplicates == 1
    assert harness.kinds() == ["missing"]


def test_email_arriving_before_its_request_within_lateness_is_late_not_missing():
    harness = run(delivered(90 * SECOND), requested(0), allowed_lateness_ms=120_000)
    assert harness.kinds() == ["late"]
    assert harness.late == 0


def test_request_behind_the_watermark_is_counted_late_and_still_applied():
    harness = run(
        requested(120 * SECOND, "r-other"),
        requested(0, "r-7"),
        allowed_lateness_ms=30_000,
    )
    assert harness.late == 1
    assert sorted(f.subject["request_id"] for f in harness.findings) == ["r-7", "r-other"]


def test_request_without_request_id_is_bad_input():
    harness = run(make_event("password_reset_requested", T0), delivered(0, request_id=""))
    assert [bad.reason for bad in harness.bad] == ["missing_field", "invalid_value"]
    assert harness.findings == []


def test_late_request_whose_deadline_already_passed_reports_missing_at_once():
    harness = DetectorHarness(LateResetEmail(), allowed_lateness_ms=30_000)
    harness.feed(make_event("page_view", "2026-11-22T11:00:00Z"))
    harness.feed(make_event("password_reset_requested", "2026-11-22T10:00:00Z", request_id="r-1"))
    assert harness.late == 1
    assert harness.kinds() == ["missing"]
