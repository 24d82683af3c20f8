import pytest
from friction_detector.detectors.builtin.ticket_reopened import TicketReopened
from friction_detector.detectors.testing import DetectorHarness, make_event

T0 = 1_768_550_400_000  # 2026-01-16T08:00:00Z, a Friday on the hour, in the past
DAY = 86_400_000


def ev(event_type, offset_ms, **attrs):
    return make_event(event_type, T0 + offset_ms, ticket_id="t-1", **attrs)


def run(*events, detector=None, lateness=0):
    harness = DetectorHarness(detector or TicketReopened(), allowed_lateness_ms=lateness)
    harness.feed(*events)
    harness.advance(T0 + 60 * DAY)
    return harness


def solved(offset_ms=0):
    return ev("ticket_solved", offset_ms)


@pytest.mark.parametrize(("after_ms", "kinds"), [(7 * DAY, ["reopened"]), (7 * DAY + 1, [])])
def test_reopen_within_seven_days(after_ms, kinds):
    assert run(solved(), ev("ticket_reopened", after_ms)).kinds() == kinds


def test_customer_question_after_solve_counts():
    reply = ev("ticket_reply", 1000, author="customer", intent="question")
    assert run(solved(), reply).kinds() == ["reopened"]


def test_customer_thanks_does_not_count():
    reply = ev("ticket_reply", 1000, author="customer", intent="thanks")
    assert run(solved(), reply, ev("ticket_reply", 2000, author="customer")).kinds() == []


def test_reopen_without_solve_is_ignored():
    assert run(ev("ticket_reopened", 1000)).kinds() == []


def test_one_finding_per_solve():
    events = [solved(), ev("ticket_reopened", 1000), ev("ticket_reopened", 2000)]
    assert run(*events).kinds() == ["reopened"]
    events += [solved(3000), ev("ticket_reopened", 4000)]
    assert run(*events).kinds() == ["reopened", "reopened"]


def test_segment_is_the_queue():
    events = [ev("ticket_created", 0, queue="returns"), solved(1), ev("ticket_reopened", 2)]
    assert run(*events).findings[0].segment == "returns"


def test_window_is_configurable():
    detector = TicketReopened(window_s=60)
    assert run(solved(), ev("ticket_reopened", 61_000), detector=detector).kinds() == []


def test_out_of_order_reopen_within_lateness():
    assert run(ev("ticket_reopened", 5000), solved(), lateness=60_000).kinds() == ["reopened"]


def test_duplicate_reopen_is_counted_once():
    r = ev("ticket_reopened", 1000)
    harness = run(solved(), r, r)
    assert harness.duplicates == 1


def test_ticket_id_of_wrong_type_goes_to_dead_letter():
    bad = make_event("ticket_solved", T0, ticket_id=7)
    assert len(run(bad).bad) == 1
