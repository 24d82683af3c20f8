"""The Faust app class the worker runs: Faust's, with two guards against records lost around
a rebalance, and the agents' event batches (streams/worker/batching.py) finished before Faust waits
for their acknowledgements.

- Its Kafka transport sends partitions with no commit back to their start when Faust seeks
  back to committed offsets (see streams/worker/faust_consumer.py).
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
from friction_detector.streams.worker.batching import BATCH_LINGER_S, EventBatch, Finish, OnError
from friction_detector.streams.worker.faust_consumer import use_seek_safe_consumer
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent


class FlowControlKeepingQueues(FlowControlEvent):
    """Resuming lets records into the queues again and leaves the ones already there."""

    def resume(self) -> None:
        self._suspend.clear()
        self._resume.set()


class FrictionFaustApp(faust.App):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        use_seek_safe_consumer(self)
        self.event_batches: dict[str, EventBatch] = {}  # per agent, its batch in progress
        self.batch_failure: BaseException | None = None
        self.timer(BATCH_LINGER_S, name="finish-stale-batches")(self._finish_stale_batches)

    def event_batch(self, agent: str, stream, finish: Finish, on_error: OnError) -> EventBatch:
        """A new batch for `agent`'s stream, finished before Faust waits for acknowledgements."""
        batch = EventBatch(stream, finish, on_error, self._on_batch_failure)
        self.event_batches[agent] = batch
        return batch

    async def _finish_stale_batches(self) -> None:
        for batch in list(self.event_batches.values()):
            await batch.finish_stale()

    async def _on_batch_failure(self, exc: BaseException) -> None:
        """Stop the worker: its successor reads the failed batch again from committed offsets."""
        self.batch_failure = exc
        await self.crash(exc)

    async def _consumer_wait_empty(self, consumer, logger) -> None:
        """Faust waits here, on revocation and on stop, for every message it handed out to be
        acknowledged: finish the held batches first, and after a failed one do not wait for
        (or commit) anything."""
        for batch in list(self.event_batches.values()):
            await batch.finish_held()
        if self.batch_failure is not None:
            logger.warning("a batch failed (%r): its offsets stay uncommitted", self.batch_failure)
            return
        await super()._consumer_wait_empty(consumer, logger)

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return FlowControlKeepingQueues(loop=self.loop)


@contextmanager
def current_event(event: EventT) -> Iterator[None]:
    """Make `event` Faust's current event while the block runs.

    A RocksDB store writes a key to the database of the current event's partition; an agent
    that writes a batch's state after the batch names an event of that partition.
    """
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)
