"""The Faust app class the worker runs: Faust's, with the guards of
streams/worker/faust_internals.py, and the agents' event batches (streams/worker/batching.py)
finished before Faust waits for their acknowledgements.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from friction_detector.streams.worker.batching import BATCH_LINGER_S, EventBatch, Finish, OnError
from friction_detector.streams.worker.faust_internals import GuardedFaustApp


class FrictionFaustApp(GuardedFaustApp):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.event_batches: dict[str, EventBatch] = {}  # per agent, its batch in progress
        self.batch_failure: BaseException | None = None
        # per agent, the finish the timer started and that is still running
        self.stale_finishes: dict[str, asyncio.Task[None]] = {}
        self.timer(BATCH_LINGER_S, name="finish-stale-batches")(self._finish_stale_batches)

    def event_batch(
        self,
        agent: str,
        stream,
        finish: Finish,
        on_error: OnError,
        pipelined: bool = False,
        unfinished: Callable[[], bool] | None = None,
    ) -> EventBatch:
        """A new batch for `agent`'s stream, finished before Faust waits for acknowledgements
        (`unfinished`: see `EventBatch`)."""
        batch = EventBatch(
            stream, finish, on_error, self.on_batch_failure,
            pipelined=pipelined, unfinished=unfinished,
        )  # fmt: skip
        self.event_batches[agent] = batch
        return batch

    async def _finish_stale_batches(self) -> None:
        """Start the finish of each batch left waiting, and return at once: a finish awaits the
        broker's round trip, longer than the timer's interval under load, and a callback that
        awaited it would overrun the timer. An agent whose finish still runs is skipped. The
        batch's lock keeps its events from being handled meanwhile, and a failed finish fails
        the batch (EventBatch.finish_held)."""
        for agent, batch in list(self.event_batches.items()):
            running = self.stale_finishes.get(agent)
            if running is not None and not running.done():
                continue
            if not batch.is_stale():
                continue
            task = asyncio.create_task(batch.finish_stale(), name=f"finish-stale-batch-{agent}")
            self.stale_finishes[agent] = task
            task.add_done_callback(self._stale_finish_done)

    def _stale_finish_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:  # a bug: finish_held turns a failed finish into a failed batch
            self.batch_failure = exc
            asyncio.ensure_future(self.crash(exc))

    async def on_batch_failure(self, exc: BaseException) -> None:
        """Stop the worker: its successor reads the failed batch again from committed offsets."""
        self.batch_failure = exc
        await self.crash(exc)

    async def before_waiting_for_acks(self, logger: Any) -> bool:
        """Finish the held batches first (an agent waiting for input would never finish its
        own), and after a failed one do not wait for (or commit) anything."""
        for batch in list(self.event_batches.values()):
            await batch.finish_held()
        if self.batch_failure is not None:
            logger.warning("a batch failed (%r): its offsets stay uncommitted", self.batch_failure)
            return False
        return True
