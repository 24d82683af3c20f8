"""`slow_checkout`: a checkout page load over 4000 ms, one finding per session per 30 minutes."""

from __future__ import annotations

from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
from friction_detector.detectors.testing import DetectorHarness, at, make_event

T0 = at("2026-11-22T10:00:00Z")
MINUTE = 60_000
LATER = T0 + 24 * 60 * MINUTE


def load(offset_ms: int, duration_ms: object = 5000, page: str = "/checkout/payment", **kw):
    return make_event("page_load", T0 + offset_ms, page=page, duration_ms=duration_ms, **kw)


def run(*events: dict, **harness_kw) -> DetectorHarness:
    harness = DetectorHarness(SlowCheckout(), **harness_kw)
    harness.feed(*events)
    harness.advance(LATER)
    return harness


def test_load_of_exactly_4000_ms_is_not_slow():
    assert run(load(0, 4000)).findings == []


def test_load_of_4001_ms_is_slow():
    assert run(load(0, 4001)).kinds() == ["slow_load"]


def test_fractional_load_just_over_threshold_is_slow():
    assert run(load(0, 4000.5)).kinds() == ["slow_load"]


def test_finding_carries_contract_fields_and_evidence():
    harness = run(load(1234, 5230, event_id="e-7", user_id="u-42", session_id="s-9"))
    (finding,) = harness.findings
    assert finding.detector == "slow_checkout"
    assert finding.kind == "slow_load"
    assert finding.severity == "warning"
    assert finding.time_ms == T0 + 1234
    assert finding.to_dict()["time"] == "2026-11-22T10:00:01.234Z"
    assert finding.subject == {"session_id": "s-9"}
    assert finding.user_id == "u-42"
    assert finding.session_id == "s-9"
    assert finding.evidence == {
        "duration_ms": 5230,
        "threshold_ms": 4000,
        "page": "/checkout/payment",
    }
    assert finding.segment == "/checkout/payment"
    assert "5.2 s" in finding.summary


def test_bare_checkout_path_is_watched():
    assert run(load(0, page="/checkout")).kinds() == ["slow_load"]


def test_page_outside_checkout_prefix_is_ignored():
    assert run(load(0, page="/cart"), load(1, page="/account/checkout")).findings == []


def test_query_string_is_not_part_of_the_segment():
    (finding,) = run(load(0, page="/checkout/payment/card?step=2")).findings
    assert finding.segment == "/checkout/payment"


def test_page_prefix_is_configurable():
    harness = DetectorHarness(SlowCheckout(page_prefix="/pay"))
    harness.feed(load(0, page="/pay/now"), load(1, page="/checkout", session_id="s-2"))
    harness.advance(LATER)
    assert [f.evidence["page"] for f in harness.findings] == ["/pay/now"]


def test_threshold_is_configurable():
    harness = DetectorHarness(SlowCheckout(threshold_ms=1000))
    harness.feed(load(0, 1000), load(1, 1001, session_id="s-2"))
    harness.advance(LATER)
    assert [f.evidence["duration_ms"] for f in harness.findings] == [1001]


def test_second_slow_load_within_30_minutes_gives_no_second_finding():
    harness = run(load(0), load(10 * MINUTE), load(30 * MINUTE - 1))
    assert [f.time_ms for f in harness.findings] == [T0]


def test_slow_load_just_over_30_minutes_later_gives_a_second_finding():
    harness = run(load(0), load(30 * MINUTE + 1))
    assert [f.time_ms for f in harness.findings] == [T0, T0 + 30 * MINUTE + 1]


def test_quiet_period_counts_from_the_last_finding_not_the_last_slow_load():
    harness = run(load(0), load(20 * MINUTE), load(31 * MINUTE), load(45 * MINUTE))
    assert [f.time_ms for f in harness.findings] == [T0, T0 + 31 * MINUTE]


def test_fast_load_does_not_start_the_quiet_period():
    harness = run(load(0, 100), load(1 * MINUTE))
    assert [f.time_ms for f in harness.findings] == [T0 + MINUTE]


def test_each_session_gets_its_own_finding():
    harness = run(load(0, session_id="s-1"), load(1, session_id="s-2"))
    assert [f.session_id for f in harness.findings] == ["s-1", "s-2"]


def test_load_without_session_is_keyed_by_user():
    harness = run(load(0, session_id=None, user_id="u-1"), load(1, session_id=None, user_id="u-1"))
    assert len(harness.findings) == 1
    assert harness.findings[0].user_id == "u-1"


def test_every_checkout_load_is_measured_in_seconds():
    harness = run(load(0, 1500), load(1, 5000), load(2, 9000, page="/home"))
    assert harness.measurements == [
        ("checkout_load", 1.5, "/checkout/payment"),
        ("checkout_load", 5.0, "/checkout/payment"),
    ]


def test_finding_waits_for_the_watermark_to_pass_the_event():
    harness = DetectorHarness(SlowCheckout(), allowed_lateness_ms=30_000)
    assert harness.feed(load(0)) == []
    assert harness.feed(load(30_000, 100, session_id="s-other")) == []
    assert [f.kind for f in harness.feed(load(30_001, 100, session_id="s-other"))] == ["slow_load"]


def test_redelivered_event_is_counted_as_duplicate_once():
    event = load(0)
    harness = run(event, event)
    assert harness.kinds() == ["slow_load"]
    assert harness.duplicates == 1


def test_event_out_of_order_within_lateness_is_released_in_event_time_order():
    # The later slow load arrives first; in event time the earlier one is the first finding.
    harness = run(load(20_000, 6000), load(0, 5000), allowed_lateness_ms=30_000)
    assert [f.time_ms for f in harness.findings] == [T0]
    assert harness.late == 0


def test_event_behind_the_watermark_is_counted_late_and_still_applied():
    harness = run(load(60_000, 100, session_id="s-2"), load(0, 5000), allowed_lateness_ms=30_000)
    assert harness.late == 1
    assert [f.time_ms for f in harness.findings] == [T0]


def test_bad_page_load_is_rejected_and_not_detected():
    harness = run(load(0, "5000"), load(1, -5), make_event("page_load", T0, duration_ms=9000))
    assert len(harness.bad) == 3
    assert harness.findings == []


def test_load_without_session_names_the_user_it_was_keyed_on():
    (finding,) = run(load(0, session_id=None, user_id="u-7")).findings
    assert finding.subject == {"user_id": "u-7"}


def test_two_users_without_session_at_the_same_time_get_distinct_finding_ids():
    harness = run(load(0, session_id=None, user_id="u-1"), load(0, session_id=None, user_id="u-2"))
    assert len({f.finding_id for f in harness.findings}) == 2
