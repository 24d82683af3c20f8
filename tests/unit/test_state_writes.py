"""A detection agent writes its partitions' state once per commit interval, or when the app
finishes its batch (the agent waits for input, a revoke, a stop): each write releases the held
messages its partitions' batches applied since the last."""

from __future__ import annotations

from friction_detector.streams.worker.state_writes import StateWrites
from test_held_messages import Clock


def test_state_changed_waits_for_the_interval_then_is_written_once_with_every_release() -> None:
    clock = Clock()
    writes: StateWrites[str] = StateWrites(0.25, monotonic=clock)
    assert not writes.due(finishing_held=False)  # nothing changed
    assert not writes.due(finishing_held=True)

    writes.changed("partition 0", [4])
    clock.now += 0.1
    writes.changed("partition 1", [])
    writes.changed("partition 0", [7, 9])
    assert writes
    assert not writes.due(finishing_held=False)
    clock.now += 0.15
    assert writes.due(finishing_held=False)
    assert writes.take() == [("partition 0", [4, 7, 9]), ("partition 1", [])]
    assert not writes
    assert not writes.due(finishing_held=False)

    writes.changed("partition 1", [12])
    clock.now += 0.2  # the interval counts from the last write
    assert not writes.due(finishing_held=False)
    assert writes.due(finishing_held=True)  # the agent waits, or a revoke or stop is coming
    assert writes.take() == [("partition 1", [12])]
