"""The Faust app class the worker runs: Faust's, with two guards against records lost around
a rebalance.

- Its Kafka transport sends partitions with no commit back to their start when Faust seeks
  back to committed offsets (see streams/faust_consumer.py).
- Its flow control does not empty the stream queues when the flow resumes. When table recovery
  ends, Faust resumes the stream partitions, then waits for a seek to committed offsets, then
  resumes the flow, which empties every stream queue. Records the fetcher delivered during
  that wait were dropped although their offsets had been read: they were never processed, and
  nothing read them again. Queues are still emptied when partitions are revoked, and a stream
  skips records of an older consumer generation, so no record of a partition the worker lost
  is processed; a record delivered twice is handled idempotently (events by id, findings by id).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import faust
import faust.streams as faust_streams
from faust.types import EventT
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from streams.faust_consumer import use_seek_safe_consumer


class FlowControlKeepingQueues(FlowControlEvent):
    """Resuming lets records into the queues again and leaves the ones already there."""

    def resume(self) -> None:
        self._suspend.clear()
        self._resume.set()


class FrictionFaustApp(faust.App):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        use_seek_safe_consumer(self)

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return FlowControlKeepingQueues(loop=self.loop)


@contextmanager
def current_event(event: EventT) -> Iterator[None]:
    """Make `event` Faust's current event while the block runs.

    A table write goes to the changelog partition (and, with RocksDB, the database) of the
    current event; an agent that writes a batch's state after the batch names the event.
    """
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)
