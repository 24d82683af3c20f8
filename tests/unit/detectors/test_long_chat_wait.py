"""`long_chat_wait`: first agent reply after 120 s is slow; none by 10 min, or end: unanswered."""

from __future__ import annotations

from friction_detector.detectors.builtin.long_chat_wait import LongChatWait
from friction_detector.detectors.testing import DetectorHarness, at, make_event

T0 = at("2026-11-22T10:00:00Z")
SECOND = 1000
DEADLINE = T0 + 600 * SECOND
LATER = T0 + 24 * 3600 * SECOND


def started(offset_ms: int = 0, conversation_id: str = "c-1", **kw) -> dict:
    return make_event("chat_started", T0 + offset_ms, conversation_id=conversation_id, **kw)


def message(offset_ms: int, author: str = "agent", conversation_id: str = "c-1", **kw) -> dict:
    return make_event(
        "chat_message", T0 + offset_ms, conversation_id=conversation_id, author=author, **kw
    )


def ended(offset_ms: int, conversation_id: str = "c-1", **kw) -> dict:
    return make_event("chat_ended", T0 + offset_ms, conversation_id=conversation_id, **kw)


def run(*events: dict, **harness_kw) -> DetectorHarness:
    harness = DetectorHarness(LongChatWait(), **harness_kw)
    harness.feed(*events)
    harness.advance(LATER)
    return harness


def test_agent_reply_exactly_120_s_after_start_is_not_slow():
    assert run(started(), message(120 * SECOND)).findings == []


def test_agent_reply_120_001_s_after_start_is_slow():
    assert run(started(), message(120 * SECOND + 1)).kinds() == ["slow_response"]


def test_slow_response_carries_contract_fields_and_evidence():
    harness = run(
        started(queue="billing", user_id="u-42", session_id="s-9"),
        message(150 * SECOND, user_id="agent-3", session_id=None),
    )
    (finding,) = harness.findings
    assert finding.detector == "long_chat_wait"
    assert finding.kind == "slow_response"
    assert finding.severity == "warning"
    assert finding.time_ms == T0 + 150 * SECOND
    assert finding.subject == {"conversation_id": "c-1"}
    assert finding.user_id == "u-42"
    assert finding.session_id == "s-9"
    assert finding.segment == "billing"
    assert finding.evidence == {
        "wait_ms": 150_000,
        "slow_after_ms": 120_000,
        "unanswered_after_ms": 600_000,
    }


def test_chat_without_queue_is_in_the_default_segment():
    (finding,) = run(started(), message(150 * SECOND)).findings
    assert finding.segment == "default"


def test_customer_and_bot_messages_do_not_count_as_a_reply():
    harness = run(
        started(),
        message(5 * SECOND, "customer"),
        message(10 * SECOND, "bot"),
        message(200 * SECOND, "agent"),
    )
    assert harness.kinds() == ["slow_response"]
    assert harness.findings[0].evidence["wait_ms"] == 200_000


def test_only_the_first_agent_reply_counts():
    harness = run(started(), message(30 * SECOND), message(300 * SECOND))
    assert harness.findings == []


def test_chat_ended_after_more_than_120_s_without_agent_is_unanswered_at_end_time():
    harness = run(started(), message(10 * SECOND, "bot"), ended(120 * SECOND + 1))
    (finding,) = harness.findings
    assert finding.kind == "unanswered"
    assert finding.severity == "critical"
    assert finding.time_ms == T0 + 120 * SECOND + 1
    assert finding.evidence["wait_ms"] == 120_001


def test_chat_ended_at_exactly_120_s_without_agent_gives_nothing():
    assert run(started(), ended(120 * SECOND)).findings == []


def test_chat_ended_before_120_s_gives_nothing_and_no_deadline():
    assert run(started(), ended(60 * SECOND)).findings == []


def test_chat_ended_after_an_agent_reply_gives_nothing_more():
    assert run(started(), message(30 * SECOND), ended(400 * SECOND)).findings == []


def test_unanswered_does_not_fire_while_watermark_is_at_the_deadline():
    harness = DetectorHarness(LongChatWait())
    harness.feed(started(), message(60 * SECOND, "customer"))
    assert harness.advance(DEADLINE) == []


def test_unanswered_fires_at_the_10_minute_deadline():
    harness = DetectorHarness(LongChatWait())
    harness.feed(started())
    harness.advance(DEADLINE)
    (finding,) = harness.advance(DEADLINE + 1)
    assert finding.kind == "unanswered"
    assert finding.time_ms == DEADLINE
    assert finding.evidence["wait_ms"] == 600_000


def test_agent_reply_after_unanswered_gives_nothing_more():
    harness = DetectorHarness(LongChatWait())
    harness.feed(started())
    harness.advance(DEADLINE + 1)
    harness.feed(message(700 * SECOND), ended(800 * SECOND))
    harness.advance(LATER)
    assert harness.kinds() == ["unanswered"]


def test_agent_reply_exactly_at_the_deadline_is_slow_not_unanswered():
    assert run(started(), message(600 * SECOND)).kinds() == ["slow_response"]


def test_repeated_chat_started_gives_one_finding():
    harness = run(started(0), started(30 * SECOND), message(130 * SECOND))
    assert harness.kinds() == ["slow_response"]
    assert harness.findings[0].evidence["wait_ms"] == 130_000


def test_messages_without_a_start_are_ignored():
    assert run(message(500 * SECOND), ended(900 * SECOND)).findings == []


def test_each_conversation_gets_its_own_finding():
    harness = run(
        started(0, "c-1"), started(0, "c-2"), message(121 * SECOND, conversation_id="c-2")
    )
    assert sorted((f.subject["conversation_id"], f.kind) for f in harness.findings) == [
        ("c-1", "unanswered"),
        ("c-2", "slow_response"),
    ]


def test_first_agent_reply_is_measured_per_queue():
    harness = run(started(queue="billing"), message(45 * SECOND))
    assert harness.measurements == [("chat_first_response", 45.0, "billing")]


def test_limits_are_configurable():
    harness = DetectorHarness(LongChatWait(slow_after_s=10, unanswered_after_s=20))
    harness.feed(started(0, "c-1"), message(11 * SECOND, conversation_id="c-1"), started(0, "c-2"))
    harness.advance(T0 + 20 * SECOND + 1)
    assert sorted((f.subject["conversation_id"], f.kind) for f in harness.findings) == [
        ("c-1", "slow_response"),
        ("c-2", "unanswered"),
    ]


def test_redelivered_start_is_counted_as_duplicate():
    event = started()
    harness = run(event, event, message(10 * SECOND))
    assert harness.duplicates == 1
    assert harness.findings == []


def test_reply_arriving_before_the_start_within_lateness_is_still_matched():
    harness = run(message(150 * SECOND), started(0), allowed_lateness_ms=200_000)
    assert harness.kinds() == ["slow_response"]
    assert harness.late == 0


def test_reply_behind_the_watermark_is_counted_late_and_still_applied():
    harness = run(
        started(0),
        started(100 * SECOND, "c-other"),
        message(200 * SECOND, "customer", "c-other"),
        message(130 * SECOND),
        allowed_lateness_ms=30_000,
    )
    assert harness.late == 1
    assert ("c-1", "slow_response") in [
        (f.subject["conversation_id"], f.kind) for f in harness.findings
    ]


def test_message_with_unknown_author_is_bad_input_and_ignored():
    harness = run(started(), message(5 * SECOND, "system"), message(150 * SECOND))
    assert [bad.reason for bad in harness.bad] == ["invalid_value"]
    assert harness.kinds() == ["slow_response"]
