from friction_detector.detectors.builtin.handoff_bounce import HandoffBounce
from friction_detector.detectors.testing import DetectorHarness, make_event

T0 = 1_768_550_400_000  # 2026-01-16T08:00:00Z, a Friday on the hour, in the past


def transfer(offset_ms, ticket="t-1", queue="tech"):
    return make_event("ticket_transferred", T0 + offset_ms, ticket_id=ticket, to_queue=queue)


def message(offset_ms, text_hash="h-long", length=250, author="customer"):
    return make_event(
        "ticket_reply",
        T0 + offset_ms,
        ticket_id="t-1",
        author=author,
        length=length,
        text_hash=text_hash,
    )


def chat(event_type, offset_ms, **attrs):
    return make_event(event_type, T0 + offset_ms, conversation_id="c-1", **attrs)


def run(*events, detector=None, lateness=0):
    harness = DetectorHarness(detector or HandoffBounce(), allowed_lateness_ms=lateness)
    harness.feed(*events)
    harness.advance(T0 + 86_400_000)
    return harness


def test_third_transfer_is_a_bounce():
    harness = run(transfer(0), transfer(1000), transfer(2000, queue="billing"))
    assert harness.kinds() == ["too_many_transfers"]
    assert harness.findings[0].segment == "billing"


def test_two_transfers_are_fine():
    assert run(transfer(0), transfer(1000)).kinds() == []


def test_reported_once_per_ticket():
    assert run(*(transfer(i * 1000) for i in range(6))).kinds() == ["too_many_transfers"]


def test_long_message_repeated_after_a_transfer():
    assert run(message(0), transfer(1000), message(2000)).kinds() == ["repeated_after_transfer"]


def test_short_repeats_do_not_count():
    events = [message(0, length=99), transfer(1000), message(2000, length=99)]
    assert run(*events).kinds() == []
    events = [message(0, length=100), transfer(1000), message(2000, length=100)]
    assert run(*events).kinds() == ["repeated_after_transfer"]


def test_repeat_without_a_transfer_between_does_not_count():
    assert run(message(0), message(1000), transfer(2000)).kinds() == []


def test_chats_are_watched_too():
    events = [
        chat("chat_message", 0, author="customer", length=300, text_hash="h"),
        chat("chat_transferred", 1000, to_queue="support"),
        chat("chat_message", 2000, author="customer", length=300, text_hash="h"),
    ]
    harness = run(*events)
    assert harness.kinds() == ["repeated_after_transfer"]
    assert harness.findings[0].subject == {"conversation_id": "c-1"}


def test_max_transfers_is_configurable():
    assert run(transfer(0), detector=HandoffBounce(max_transfers=0 + 1)).kinds() == []
    assert run(transfer(0), transfer(1), detector=HandoffBounce(max_transfers=1)).kinds() == [
        "too_many_transfers"
    ]


def test_out_of_order_transfer_within_lateness_is_placed_in_time():
    events = [message(0), message(2000), transfer(1000)]
    assert run(*events, lateness=60_000).kinds() == ["repeated_after_transfer"]


def test_duplicate_transfer_is_counted_once():
    t = transfer(0)
    harness = run(t, t, t, transfer(1000))
    assert harness.kinds() == []
    assert harness.duplicates == 2


def test_negative_length_goes_to_dead_letter():
    assert len(run(message(0, length=-1)).bad) == 1
