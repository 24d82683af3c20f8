import pytest
from friction_detector.detectors.builtin.late_transactional_email import LateTransactionalEmail
from friction_detector.detectors.testing import DetectorHarness, make_event

T0 = 1_768_550_400_000  # 2026-01-16T08:00:00Z, a Friday on the hour, in the past


def requested(template="verification_code", request_id="r-1", offset_s=0):
    return make_event(
        "email_requested", T0 + offset_s * 1000, request_id=request_id, template=template
    )


def delivered(offset_s, request_id="r-1"):
    return make_event("email_delivered", T0 + offset_s * 1000, request_id=request_id)


def run(*events, detector=None, lateness=0, until_s=100_000):
    harness = DetectorHarness(detector or LateTransactionalEmail(), allowed_lateness_ms=lateness)
    harness.feed(*events)
    harness.advance(T0 + until_s * 1000)
    return harness


@pytest.mark.parametrize(("delay_s", "kinds"), [(59, []), (60, []), (61, ["late"])])
def test_verification_code_is_late_after_60_s(delay_s, kinds):
    assert run(requested(), delivered(delay_s)).kinds() == kinds


def test_receipts_have_their_own_limit():
    assert run(requested("receipt"), delivered(200)).kinds() == []
    assert run(requested("receipt"), delivered(301)).kinds() == ["late"]


def test_unknown_template_uses_the_default_row():
    assert run(requested("welcome"), delivered(121)).kinds() == ["late"]
    assert run(requested("welcome"), delivered(120)).kinds() == []


def test_missing_fires_at_the_template_deadline_not_before():
    assert run(requested("magic_link"), until_s=600).kinds() == []
    harness = run(requested("magic_link"), until_s=601)
    assert harness.kinds() == ["missing"]
    assert harness.findings[0].time_ms == T0 + 600_000
    assert harness.findings[0].segment == "magic_link"


def test_delivery_after_missing_does_not_report_again():
    assert run(requested(), delivered(900)).kinds() == ["missing"]


def test_deadlines_table_is_configurable():
    detector = LateTransactionalEmail(deadlines=["otp:10:20", "*:100:200"])
    assert run(requested("otp"), delivered(11), detector=detector).kinds() == ["late"]


@pytest.mark.parametrize(
    "table", [["otp:10:20"], ["otp:x:20", "*:1:2"], ["*:30:20"], ["otp:1", "*:1:2"]]
)
def test_bad_deadlines_table_is_refused(table):
    with pytest.raises(ValueError, match="deadlines"):
        LateTransactionalEmail(deadlines=table)


def test_delivery_before_request_in_arrival_order_is_reordered():
    assert run(delivered(90), requested(), lateness=120_000).kinds() == ["late"]


def test_duplicate_request_is_ignored():
    req = requested()
    harness = run(req, req, delivered(10))
    assert harness.duplicates == 1
    assert harness.kinds() == []


def test_request_without_template_goes_to_dead_letter():
    harness = run(make_event("email_requested", T0, request_id="r-1"))
    assert len(harness.bad) == 1
