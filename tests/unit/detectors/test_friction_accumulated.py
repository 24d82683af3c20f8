"""`friction_accumulated`: one finding per customer once N of their findings lie within the
period, listing them; only findings after those count towards the next."""

from __future__ import annotations

import pytest
from friction_detector.detectors.builtin.friction_accumulated import FrictionAccumulated
from friction_detector.detectors.builtin.late_reset_email import LateResetEmail
from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
from friction_detector.detectors.config import ConfigError, build_config
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.testing import DetectorHarness, at, make_event

HOUR = 3_600_000
T0 = at("2026-11-22T10:00:00Z")


def finding(
    minutes: float,
    *,
    user: str | None = "u-1",
    session: str | None = "s-1",
    detector: str = "slow_checkout",
    severity: str = "warning",
    subject: dict | None = None,
) -> Finding:
    """A finding of another detector, `minutes` after T0."""
    return Finding(
        detector=detector,
        kind="moment",
        severity=severity,
        time_ms=T0 + int(minutes * 60_000),
        subject=subject or {"n": minutes, "session": session},
        summary="friction",
        evidence={},
        user_id=user,
        session_id=session,
    )


def accumulated(harness: DetectorHarness) -> list[Finding]:
    return [f for f in harness.findings if f.detector == "friction_accumulated"]


def run(*findings: Finding, until_h: float = 48, **params) -> list[Finding]:
    harness = DetectorHarness(FrictionAccumulated(**params))
    harness.feed_findings(*findings)
    harness.advance(T0 + int(until_h * HOUR))
    return accumulated(harness)


def test_three_findings_within_the_period_make_one_listing_them():
    found = run(finding(0), finding(90), finding(600, detector="late_reset_email"))
    assert len(found) == 1
    (one,) = found
    assert one.kind == "accumulated"
    assert one.time_ms == T0 + 600 * 60_000  # the time of the finding that made it N
    assert one.subject == {"user_id": "u-1"}
    listed = one.evidence["findings"]
    assert [f["detector"] for f in listed] == ["slow_checkout", "slow_checkout", "late_reset_email"]
    assert [f["finding_id"] for f in listed] == [
        finding(0).finding_id,
        finding(90).finding_id,
        finding(600, detector="late_reset_email").finding_id,
    ]
    assert one.evidence["count"] == 3
    assert one.evidence["span_ms"] == 600 * 60_000


def test_two_findings_are_not_enough():
    assert run(finding(0), finding(1)) == []


def test_findings_further_apart_than_the_period_do_not_add_up():
    assert run(finding(0), finding(12 * 60), finding(24 * 60 + 1)) == []


def test_findings_exactly_the_period_apart_lie_within_it():
    assert len(run(finding(0), finding(12 * 60), finding(24 * 60))) == 1


def test_an_old_finding_leaves_the_window_and_newer_ones_still_count():
    found = run(finding(0), finding(24 * 60 + 1), finding(24 * 60 + 2), finding(24 * 60 + 3))
    assert len(found) == 1
    assert found[0].evidence["findings"][0]["time"] == "2026-11-23T10:01:00.000Z"


def test_a_second_needs_n_new_findings_after_the_first():
    minutes = [0, 1, 2, 3, 4]
    assert len(run(*(finding(m) for m in minutes))) == 1
    found = run(*(finding(m) for m in [*minutes, 5]))
    assert len(found) == 2
    assert [f["time"] for f in found[1].evidence["findings"]] == [
        "2026-11-22T10:03:00.000Z",
        "2026-11-22T10:04:00.000Z",
        "2026-11-22T10:05:00.000Z",
    ]


def test_min_findings_and_period_are_parameters():
    assert len(run(finding(0), finding(5), min_findings=2, period_s=600)) == 1
    assert run(finding(0), finding(11), min_findings=2, period_s=600) == []


def test_severity_is_one_above_the_highest_listed():
    assert run(*(finding(m, severity="info") for m in range(3)))[0].severity == "warning"
    assert run(*(finding(m) for m in range(3)))[0].severity == "critical"
    mixed = [finding(0, severity="critical"), finding(1, severity="info"), finding(2)]
    assert run(*mixed)[0].severity == "critical"


def test_a_fixed_severity_replaces_escalation():
    assert run(*(finding(m) for m in range(3)), severity="info")[0].severity == "info"


def test_an_unknown_severity_is_a_configuration_error():
    with pytest.raises(ConfigError, match="severity must be one of escalate, info, warning"):
        build_config({"detectors": {"friction_accumulated": {"severity": "urgent"}}})


def test_the_customer_is_the_user_across_sessions():
    found = run(finding(0, session="s-1"), finding(1, session="s-2"), finding(2, session=None))
    assert len(found) == 1
    assert found[0].user_id == "u-1"


def test_without_a_user_the_customer_is_the_session():
    found = run(*(finding(m, user=None, session="s-9") for m in range(3)))
    assert [f.subject for f in found] == [{"session_id": "s-9"}]
    assert found[0].user_id is None and found[0].session_id == "s-9"


def test_a_user_and_a_session_without_user_are_two_customers():
    mixed = [finding(0), finding(1), finding(2, user=None, session="s-1")]
    assert run(*mixed) == []


def test_findings_without_user_or_session_are_not_counted():
    assert run(*(finding(m, user=None, session=None) for m in range(3))) == []


def test_customers_are_counted_apart():
    found = run(*(finding(m, user=f"u-{m % 2}") for m in range(5)))
    assert [f.subject for f in found] == [{"user_id": "u-0"}]


def test_a_finding_sent_twice_counts_once():
    assert run(finding(0), finding(1), finding(1)) == []


def test_findings_count_in_event_time_order_whatever_order_they_came_in():
    in_order = run(*(finding(m) for m in [0, 1, 2, 3, 4, 5]))
    shuffled = run(*(finding(m) for m in [3, 0, 5, 1, 4, 2]))
    assert [f.to_dict() for f in shuffled] == [f.to_dict() for f in in_order]


def test_a_late_finding_older_than_the_last_report_is_not_counted_again():
    harness = DetectorHarness(FrictionAccumulated())
    harness.feed_findings(finding(10), finding(11), finding(12))
    harness.advance(T0 + HOUR)
    harness.feed_findings(finding(5), finding(20), finding(21))  # 5: behind the report
    harness.advance(T0 + 2 * HOUR)
    assert len(accumulated(harness)) == 1


def test_findings_of_event_detectors_add_up_in_event_time_including_deadlines():
    """A missing email comes out at its deadline, after the slow loads that follow it."""
    harness = DetectorHarness(
        SlowCheckout(period_s=60), LateResetEmail(), FrictionAccumulated(), allowed_lateness_ms=0
    )
    reset = make_event("password_reset_requested", T0, request_id="r-1", session_id=None)
    loads = [
        make_event("page_load", T0 + m * 60_000, page="/checkout/pay", duration_ms=9000)
        for m in (2, 4, 20)
    ]
    harness.feed(reset, *loads)
    found = accumulated(harness)
    assert len(found) == 1
    listed = [(f["detector"], f["time"]) for f in found[0].evidence["findings"]]
    assert listed == [
        ("slow_checkout", "2026-11-22T10:02:00.000Z"),
        ("slow_checkout", "2026-11-22T10:04:00.000Z"),
        ("late_reset_email", "2026-11-22T10:10:00.000Z"),
    ]


def test_its_own_findings_are_not_counted():
    found = run(*(finding(m) for m in range(6)), min_findings=2)
    assert len(found) == 3


def test_a_configuration_of_detectors_over_findings_alone_is_refused():
    with pytest.raises(ConfigError, match="only detectors over findings are enabled"):
        build_config({"detectors": {"enable": ["friction_accumulated"]}})


def test_it_runs_apart_from_the_event_detectors():
    config = build_config({})
    assert [d.name for d in config.finding_detectors] == ["friction_accumulated"]
    assert "friction_accumulated" not in {d.name for d in config.detectors}
    assert "friction.finding" not in config.decoder().schemas


def slow_load(seconds: float, session: str) -> dict:
    return make_event(
        "page_load", T0 + int(seconds * 1000), page="/checkout", duration_ms=9000,
        session_id=session, event_id=f"load-{session}",
    )  # fmt: skip


def accumulated_in_arrival_order(*loads: dict) -> list[list[str]]:
    """The sessions each friction_accumulated lists, events fed one by one (lateness 10 s)."""
    harness = DetectorHarness(SlowCheckout(), FrictionAccumulated(), allowed_lateness_ms=10_000)
    for load in loads:
        harness.feed(load)
    harness.advance(T0 + HOUR)
    return [[f["finding_id"] for f in one.evidence["findings"]] for one in accumulated(harness)]


def test_a_finding_queued_behind_a_later_arrival_still_counts_in_its_time_order():
    """The load at 95 s arrives after the one at 100 s: the watermark passes 95 s before its
    finding is out (its key waits behind the arrival at 100 s), and the findings at 95.5 s and
    95.8 s are out by then. They must not make a friction_accumulated without it."""
    x, f, g = slow_load(80, "s-x"), slow_load(95.5, "s-f"), slow_load(95.8, "s-g")
    b, a, c = slow_load(100, "s-b"), slow_load(95, "s-a"), slow_load(106, "s-c")
    in_order = accumulated_in_arrival_order(x, a, f, g, b, c)
    assert len(in_order) == 2
    assert accumulated_in_arrival_order(x, f, g, b, a, c) == in_order
