import pytest
from friction_detector.detectors.builtin.slow_ticket_response import SlowTicketResponse
from friction_detector.detectors.testing import DetectorHarness, make_event

T0 = 1_768_550_400_000  # 2026-01-16T08:00:00Z, a Friday on the hour, in the past
HOUR = 3600_000


def created(**attrs):
    return make_event("ticket_created", T0, ticket_id="t-1", queue="billing", **attrs)


def reply(offset_ms, author="agent"):
    return make_event("ticket_reply", T0 + offset_ms, ticket_id="t-1", author=author)


def run(*events, detector=None, lateness=0, until_ms=60 * HOUR):
    harness = DetectorHarness(detector or SlowTicketResponse(), allowed_lateness_ms=lateness)
    harness.feed(*events)
    harness.advance(T0 + until_ms)
    return harness


@pytest.mark.parametrize(("wait_ms", "kinds"), [(4 * HOUR, []), (4 * HOUR + 1, ["late"])])
def test_first_agent_reply_after_four_hours_is_late(wait_ms, kinds):
    assert run(created(), reply(wait_ms)).kinds() == kinds


def test_customer_and_bot_replies_do_not_stop_the_clock():
    assert run(
        created(), reply(60_000, "customer"), reply(60_000, "bot"), reply(5 * HOUR)
    ).kinds() == ["late"]


def test_ticket_sla_overrides_the_default():
    assert run(created(sla_s=600), reply(601_000)).kinds() == ["late"]


def test_no_reply_is_missing_at_24_hours_not_before():
    assert run(created(), until_ms=24 * HOUR).kinds() == []
    harness = run(created(), until_ms=24 * HOUR + 1)
    assert harness.kinds() == ["missing"]
    assert harness.findings[0].segment == "billing"


def test_solving_without_reply_counts_as_the_response():
    solved = make_event("ticket_solved", T0 + HOUR, ticket_id="t-1")
    assert run(created(), solved).kinds() == []


def test_reply_before_creation_in_arrival_order_is_reordered():
    assert run(reply(5 * HOUR), created(), lateness=6 * HOUR).kinds() == ["late"]


def test_duplicate_reply_is_counted_once():
    r = reply(5 * HOUR)
    harness = run(created(), r, r)
    assert harness.kinds() == ["late"]
    assert harness.duplicates == 1


def test_unknown_author_goes_to_dead_letter():
    assert len(run(created(), reply(10, author="robot")).bad) == 1


def test_sla_param_is_bounded():
    with pytest.raises(ValueError, match="sla_s"):
        SlowTicketResponse(sla_s=0)
