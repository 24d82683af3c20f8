from friction_detector.detectors.builtin.order_silence import OrderSilence
from friction_detector.detectors.testing import DetectorHarness, make_event

T0 = 1_768_550_400_000  # 2026-01-16T08:00:00Z, a Friday on the hour, in the past
HOUR = 3600_000


def placed(order_id="o-1", offset_ms=0):
    return make_event("order_placed", T0 + offset_ms, order_id=order_id, channel="app")


def update(offset_ms, order_id="o-1"):
    return make_event("order_update", T0 + offset_ms, order_id=order_id, status="shipped")


def run(*events, detector=None, lateness=0, until_ms=100 * HOUR):
    harness = DetectorHarness(detector or OrderSilence(), allowed_lateness_ms=lateness)
    harness.feed(*events)
    harness.advance(T0 + until_ms)
    return harness


def test_no_update_in_48_hours_is_silence_at_the_deadline():
    harness = run(placed())
    assert harness.kinds() == ["no_update"]
    assert harness.findings[0].time_ms == T0 + 48 * HOUR
    assert harness.findings[0].segment == "app"


def test_deadline_does_not_fire_early():
    assert run(placed(), until_ms=48 * HOUR).kinds() == []


def test_update_just_before_the_deadline_is_in_time():
    assert run(placed(), update(48 * HOUR - 1)).kinds() == []


def test_update_after_the_deadline_does_not_undo_the_finding():
    assert run(placed(), update(49 * HOUR)).kinds() == ["no_update"]


def test_limit_is_configurable():
    assert run(placed(), update(2 * HOUR), detector=OrderSilence(silence_after_s=3600)).kinds() == [
        "no_update"
    ]


def test_update_arriving_before_order_within_lateness_counts():
    assert run(update(10_000), placed(), lateness=60_000).kinds() == []


def test_duplicate_order_is_reported_once():
    p = placed()
    harness = run(p, p)
    assert harness.kinds() == ["no_update"]
    assert harness.duplicates == 1


def test_state_is_dropped_after_the_deadline():
    harness = run(placed(), until_ms=60 * HOUR)
    assert harness.engine.state_keys()["order_silence"] == 0


def test_order_without_id_goes_to_dead_letter():
    assert len(run(make_event("order_placed", T0)).bad) == 1
