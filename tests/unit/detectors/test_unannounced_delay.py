from friction_detector.detectors.builtin.unannounced_delay import UnannouncedDelay
from friction_detector.detectors.testing import DetectorHarness, make_event

T0 = 1_768_550_400_000  # 2026-01-16T08:00:00Z, a Friday on the hour, in the past
HOUR = 3600_000


def marked(offset_ms=0, ref_id="sh-1", ref_type="shipment"):
    return make_event("delay_marked", T0 + offset_ms, ref_id=ref_id, ref_type=ref_type)


def notified(offset_ms, ref_id="sh-1"):
    return make_event("customer_notified", T0 + offset_ms, ref_id=ref_id, channel="email")


def run(*events, detector=None, lateness=0, until_ms=50 * HOUR):
    harness = DetectorHarness(detector or UnannouncedDelay(), allowed_lateness_ms=lateness)
    harness.feed(*events)
    harness.advance(T0 + until_ms)
    return harness


def test_delay_without_notice_in_4_hours_is_unannounced():
    harness = run(marked())
    assert harness.kinds() == ["unannounced"]
    assert harness.findings[0].time_ms == T0 + 4 * HOUR
    assert harness.findings[0].segment == "shipment"


def test_not_before_the_deadline():
    assert run(marked(), until_ms=4 * HOUR).kinds() == []


def test_notice_just_in_time():
    assert run(marked(), notified(4 * HOUR - 1)).kinds() == []


def test_a_second_delay_needs_a_second_notice():
    events = [marked(), notified(HOUR), marked(2 * HOUR)]
    assert run(*events).kinds() == ["unannounced"]


def test_limit_is_configurable():
    detector = UnannouncedDelay(notify_within_s=600)
    assert run(marked(), notified(700_000), detector=detector).kinds() == ["unannounced"]


def test_notice_arriving_first_within_lateness_counts():
    assert run(notified(5000), marked(), lateness=60_000).kinds() == []


def test_duplicate_mark_is_counted_once():
    m = marked()
    harness = run(m, m)
    assert harness.kinds() == ["unannounced"]
    assert harness.duplicates == 1


def test_unknown_ref_type_goes_to_dead_letter():
    assert len(run(marked(ref_type="parcel")).bad) == 1
