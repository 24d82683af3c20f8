"""A detection partition's held messages: what its commit stops at, and when they go."""

from __future__ import annotations

from friction_detector.detectors.engine import NO_WATERMARK
from friction_detector.streams.worker.held_messages import HeldMessages


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def held_messages(clock: Clock | None = None) -> HeldMessages:
    return HeldMessages(max_span_ms=60_000, max_hold_s=10.0, monotonic=clock or Clock())


def test_the_commit_stops_at_the_oldest_message_whose_items_wait() -> None:
    held = held_messages()
    assert held.first() is None
    held.hold(5, latest_ms=2_000, settled_ms=0)
    held.hold(6, latest_ms=1_000, settled_ms=0)
    held.hold(9, latest_ms=3_000, settled_ms=0)
    assert held.first() == 5
    assert len(held) == 3

    # Message 6's items are applied first; it goes once that state is written, 5 still holds.
    assert held.applied(1_500) == [6]
    assert held.first() == 5
    held.release([6])
    assert held.first() == 5
    assert len(held) == 2

    assert held.applied(2_001) == [5]
    assert held.first() == 5  # applied, not yet written: still held
    held.release([5])
    assert held.first() == 9
    assert held.applied(3_000) == []  # settled must pass the latest item, not reach it
    assert held.applied(3_001) == [9]
    held.release([9])
    assert held.first() is None
    assert len(held) == 0


def test_a_message_held_too_long_in_wall_time_releases_every_held_one_with_its_items_kept() -> None:
    clock = Clock()
    held = held_messages(clock)
    held.hold(1, latest_ms=50_000, settled_ms=0)
    clock.now += 4
    held.hold(2, latest_ms=90_000, settled_ms=1_000)
    assert held.overdue(1_000) is None
    clock.now += 6  # message 1 has waited 10 s
    assert held.overdue(1_000) == 90_000  # keep the waiting events up to the latest held item
    assert sorted(held.keep_all()) == [1, 2]
    assert held.first() == 1  # until the batch that keeps them is written
    held.release([1, 2])
    assert held.first() is None
    assert held.overdue(1_000) is None


def test_a_message_held_while_event_time_moved_on_far_is_overdue_at_once() -> None:
    """A backlog moves event time fast: the messages behind a held one must be read again
    while their keys still remember their events."""
    held = held_messages()
    held.hold(1, latest_ms=10_000_000, settled_ms=0)  # dated far ahead
    assert held.overdue(59_999) is None
    assert held.overdue(60_000) == 10_000_000


def test_only_messages_still_waiting_make_the_partition_overdue() -> None:
    clock = Clock()
    held = held_messages(clock)
    held.hold(1, latest_ms=500, settled_ms=0)
    assert held.applied(501) == [1]
    clock.now += 60  # applied long ago, its release only waits for the batch's state
    assert held.overdue(501) is None


def test_a_message_handled_twice_is_held_once_and_the_commit_stops_at_the_lowest() -> None:
    """Read again after a seek back, a message comes twice, and earlier offsets after later."""
    held = held_messages()
    held.hold(7, latest_ms=1_000, settled_ms=0)
    held.hold(7, latest_ms=1_000, settled_ms=0)
    held.hold(3, latest_ms=2_000, settled_ms=0)
    assert held.first() == 3
    assert len(held) == 2
    assert held.applied(1_500) == [7]
    held.release([7])
    assert held.first() == 3
    assert held.applied(2_500) == [3]
    held.release([3])
    assert held.first() is None
    held.hold(7, latest_ms=3_000, settled_ms=0)  # released, then read again: held again
    assert held.first() == 7


def test_after_a_restart_event_time_is_counted_from_the_first_settled_time() -> None:
    """Read again after a restart, messages are held before the engine has a watermark: the
    first settled time it has is where their event time starts, not the lack of one."""
    held = held_messages()
    held.hold(4, latest_ms=5_000_000, settled_ms=NO_WATERMARK)
    assert held.overdue(NO_WATERMARK) is None
    assert held.overdue(4_000_000) is None  # the first settled time: counted from here
    assert held.overdue(4_059_999) is None
    assert held.overdue(4_060_000) == 5_000_000


def test_a_message_applied_by_the_batch_that_took_it_is_held_until_its_state_is_written() -> None:
    """State is written once per commit interval (state_writes.py), not with each batch: a
    message the batch applied at once (a late event, or one the watermark had passed) must not
    be committed before the state that applied it is in Kafka."""
    held = held_messages()
    assert held.settle([(5, 1_000)], settled_ms=2_000) == [5]  # applied: the next write's
    assert held.first() == 5
    assert held.settle([(6, 3_000)], settled_ms=2_000) == []  # still waiting
    assert held.first() == 5
    held.release([5])
    assert held.first() == 6


def test_messages_applied_and_waiting_only_for_their_write_never_make_the_partition_overdue() -> (
    None
):
    """A backlog moves event time fast: between two state writes it may settle further than
    `max_span_ms`, and the applied messages held for the write are not what waits."""
    clock = Clock()
    held = held_messages(clock)
    assert held.settle([(10, 1_000)], settled_ms=2_000) == [10]  # applied, not yet written
    assert held.hold_applied([11, 10]) == [11]  # a progress report; 10 is held already
    held.settle([(12, 600_000)], settled_ms=490_000)  # waits
    assert held.first() == 10
    assert held.overdue(500_000) is None  # 498 s since 10 was held, 10 s since 12 was
    clock.now += 10  # 12 has waited max_hold_s
    assert held.overdue(500_000) == 600_000
