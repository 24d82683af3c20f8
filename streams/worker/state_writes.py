"""When a detection agent writes its partitions' state: once per commit interval, not per batch.

A batch's findings go out with the batch, but the state records it changed wait for the next
write: a key that several batches touch within the interval is then written to the changelog
once, where it was written once per batch (under load a batch lasts as long as the previous
one's round trip to the broker, a few milliseconds, and most keys are touched again soon).
Kafka Streams' record cache and Quix Streams' checkpoints flush state at their commit the same
way. Nothing is committed past the state not yet written: every message a batch handled stays
held (held_messages.py) until the state as of it is in Kafka (one with items, until they are
applied too; a progress report also moves the watermark, which applies events and fires
deadlines), so a restart, or a partition's next owner, reads them again from there, against the
state last written, and finds the same findings (the same ids) again.

A write comes with the first batch the interval has passed for (the commit interval: writes and
commits run on their own clocks, so a restart reads again up to about two intervals of
messages, where it read up to one), and with every batch the app finishes because its agent
waits for input or the app is about to wait for acknowledgements (a revoke, a stop:
`EventBatch.finish_held`), so a trickle of input, a partition given away and a worker stopping
all find the state written. A write serializes and sends every record changed in the interval
at once, on the event loop: 5 to 7 µs per record, so under a heavy load at the default 2.8 s
a pause of a few hundred milliseconds before the next batch's findings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

Partition = TypeVar("Partition")


class StateWrites(Generic[Partition]):
    """The partitions whose state changed since their last write, each with the held messages
    that write releases, and when the next write is due."""

    def __init__(self, interval_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.monotonic = monotonic
        self.written_at = monotonic()
        # A partition's runtime (not its number: a partition revoked and assigned again is
        # another runtime, whose held messages are not these) -> its held messages applied
        # since its last write.
        self.unwritten: dict[Partition, list[int]] = {}

    def __bool__(self) -> bool:
        """Some partition's state changed since it was last written."""
        return bool(self.unwritten)

    def changed(self, partition: Partition, applied: list[int]) -> None:
        """A batch changed the partition's state and applied the held messages `applied`:
        released once the partition's next write is in Kafka."""
        self.unwritten.setdefault(partition, []).extend(applied)

    def due(self, finishing_held: bool) -> bool:
        """Whether the batch being finished writes the state: the interval has passed since the
        last write, or the app finishes the batch because its agent waits for input or the app
        is about to wait for acknowledgements (`finishing_held`)."""
        if not self.unwritten:
            return False
        return finishing_held or self.monotonic() - self.written_at >= self.interval_s

    def take(self) -> list[tuple[Partition, list[int]]]:
        """The partitions to write now, each with the held messages its write releases."""
        taken, self.unwritten = self.unwritten, {}
        self.written_at = self.monotonic()
        return list(taken.items())
