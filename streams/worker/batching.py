"""Batches of handled events, acknowledged only once what they produced is in Kafka.

Each agent takes events one by one from Faust's stream (so Faust still skips records of an
older consumer generation or of a stopped flow), handles each one at once, and holds it until
the batch is finished: its outputs sent and awaited, then the events acknowledged. A batch is
finished as soon as no further event waits in the stream's queue, when it is full, or once its
first event has waited `max_age_s`, so a light load goes out event by event, a heavy one in
batches of what queued meanwhile, and under any load no event waits in a batch for longer than
that. Paying the broker's round trip and Faust's per-message costs once per batch is what
lets one worker keep up with thousands of events per second.

Faust waits for every message it handed out to be acknowledged before partitions are revoked
and before the worker stops. An agent waiting for input with a batch held would never finish
it (if everything queued behind the batch was then skipped, or the worker is stopping), so
the app finishes held batches first (`finish_held`, see streams/worker/faust_app.py), and a timer
finishes any batch left waiting longer than `linger_s` (`finish_stale`, in a task of its own so
that the timer never waits for the broker).

A message whose handling raises is the message's fault, not the batch's: `on_error` turns it
into a dead letter and the batch goes on. A batch that fails (its outputs could not be sent:
the broker is down, say; streams/worker/delivery.py replaces records refused for their own sake)
keeps its events unacknowledged for good and reports the failure: the worker stops without
committing them, and its successor reads them again.

A pipelined batch (`pipelined=True`, stage 2) is finished in two steps: calling `finish(events)`
takes what the batch produced at once, and awaiting what it returns delivers it. The agent
handles the next batch while the previous one's outputs are in flight; at most one batch is in
flight, and a batch's delivery starts only once the previous one has landed (delivered, then
acknowledged), so outputs go out and events are acknowledged in batch order. Waiting for the
broker's round trips then costs the agent nothing while it has input to handle. While a batch
is in flight, the next one is not finished when the queue runs dry: it collects what arrives
until the flight lands (or it is full, or old enough), as a group commit does, so batches stay
as large under load as without the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from friction_detector.streams.kafka.settings import BATCH_MAX_AGE_MS

log = logging.getLogger(__name__)

# At most this many events are handled before their outputs are sent.
BATCH_MAX = 1000
# A batch left waiting this long is finished by the timer.
BATCH_LINGER_S = 0.05
# A batch whose first event was handled this long ago is finished with the next event, however
# many more wait: a steady load that never empties the queue still publishes within it.
BATCH_MAX_AGE_S = BATCH_MAX_AGE_MS / 1000

FaustEvent = Any  # faust.types.EventT: a message with its stream's acknowledgement
Finish = Callable[[list[FaustEvent]], Awaitable[None]]
OnFailure = Callable[[BaseException], Awaitable[None]]
OnError = Callable[[FaustEvent, Exception], None]  # dead-letters a message handling raised on


class EventBatch:
    """One agent's handled, unacknowledged events, and how to finish them.

    `finish(events)` publishes what the events produced and returns once the broker has it. It
    runs under `lock`, as does handling an event, so a finish sees exactly the work of its
    events. Pipelined, `finish(events)` takes that work when called (under the lock) and its
    result is awaited in a task of its own (`in_flight`), while the next events are handled.
    """

    def __init__(
        self,
        stream: Any,
        finish: Finish,
        on_error: OnError,
        on_failure: OnFailure,
        max_events: int = BATCH_MAX,
        linger_s: float = BATCH_LINGER_S,
        max_age_s: float = BATCH_MAX_AGE_S,
        pipelined: bool = False,
        unfinished: Callable[[], bool] | None = None,
    ) -> None:
        """`unfinished` says the agent has work its finish writes even without events (state
        written once per commit interval, state_writes.py): `finish_held` finishes then too."""
        self.stream = stream
        self.queue = stream.channel.queue
        self.finish = finish
        self.on_error = on_error
        self.on_failure = on_failure
        self.max_events = max_events
        self.linger_s = linger_s
        self.max_age_s = max_age_s
        self.lock = asyncio.Lock()
        self.events: list[FaustEvent] = []
        self.last_added = 0.0
        self.first_added = 0.0
        self.failed: BaseException | None = None
        self.pipelined = pipelined
        self.unfinished = unfinished or _nothing_unfinished
        # True while `finish_held` finishes the batch: the agent waits for input, or the app is
        # about to wait for the acknowledgements (a revoke, a stop).
        self.finishing_held = False
        self.in_flight: asyncio.Task[None] | None = None  # pipelined: the batch being delivered
        self.flying: list[FaustEvent] = []  # its events

    async def handle(self, event: FaustEvent, handler: Callable[[FaustEvent], None]) -> None:
        """Run `handler(event)` (synchronous: it only records work) and hold the event."""
        async with self.lock:
            if self.failed is not None:
                raise RuntimeError("event batch failed earlier") from self.failed
            now = time.monotonic()
            if not self.events:
                self.first_added = now
            self.events.append(event)  # held, whatever happens next, until finished
            self.last_added = now
            try:
                try:
                    handler(event)
                except Exception as exc:  # this message's fault: dead-letter it and go on
                    self.on_error(event, exc)
                if (
                    len(self.events) >= self.max_events
                    or (self.queue.empty() and not self._flying())
                    or now - self.first_added >= self.max_age_s
                ):
                    await self._finish()
            except Exception as exc:
                await self._fail(exc)
                raise

    def _agent_waits(self) -> bool:
        """The agent is waiting for input: no event is being handled and none is queued."""
        return not self.lock.locked() and self.queue.empty()

    async def finish_stale(self) -> None:
        """Finish a batch that has waited longer than `linger_s` for its agent.

        A locked batch is being handled or finished right now, so it is not waiting: the timer
        leaves it alone rather than wait for it (and overrun its interval)."""
        if self.is_stale():
            await self.finish_held()

    def is_stale(self) -> bool:
        """Events are held, or work its finish writes waits, unlocked, for `linger_s` or
        longer since the last event: the agent waits for input."""
        return (
            not self.lock.locked()
            and (bool(self.events) or self.unfinished())
            and time.monotonic() - self.last_added >= self.linger_s
        )

    async def finish_held(self) -> None:
        """Finish the batch now, if one is held (or work its finish writes waits: `unfinished`)
        and nothing failed, and wait until every finished batch is acknowledged (pipelined, the
        one in flight too)."""
        async with self.lock:
            if self.failed is not None:
                return
            try:
                if self.events or self.unfinished():
                    self.finishing_held = True
                    try:
                        await self._finish()
                    finally:
                        self.finishing_held = False
                await self._land()
            except Exception as exc:
                await self._fail(exc)

    async def _finish(self) -> None:
        events = self.events
        if self.pipelined:
            delivery = self.finish(events)  # takes the batch's outputs now
            self.events = []
            await self._land()  # the previous batch first: acknowledged in order
            self.flying = events
            self.in_flight = asyncio.ensure_future(self._deliver(delivery, events))
            self.in_flight.add_done_callback(self._landed)
            return
        await self.finish(events)
        self.events = []
        await self._ack(events)

    async def _deliver(self, delivery: Awaitable[None], events: list[FaustEvent]) -> None:
        await delivery
        await self._ack(events)

    async def _ack(self, events: list[FaustEvent]) -> None:
        ack = self.stream.ack
        for event in events:
            await ack(event)

    async def _land(self) -> None:
        """Wait for the batch in flight, if any; raises what failed it."""
        flight = self.in_flight
        if flight is not None:
            await asyncio.shield(flight)  # a cancelled caller leaves the delivery running
            self.in_flight = None
            self.flying = []

    def _flying(self) -> bool:
        """A batch is in flight: the next one goes on collecting what arrives meanwhile."""
        return self.in_flight is not None and not self.in_flight.done()

    def _landed(self, flight: asyncio.Task[None]) -> None:
        """A delivery that failed fails the batch at once, not at the next finish: the agent
        may be waiting for input. One that succeeded lets the batch collected meanwhile go, if
        its agent is waiting for input (otherwise its next event finishes it)."""
        if flight.cancelled() or self.failed is not None:
            return
        if flight.exception() is not None:
            asyncio.ensure_future(self._fail(flight.exception()))
        elif self.events and self._agent_waits():
            asyncio.ensure_future(self._finish_collected())

    async def _finish_collected(self) -> None:
        """Finish the batch collected while the previous one was in flight."""
        async with self.lock:
            if not self.events or self.failed is not None or self._flying():
                return
            try:
                await self._finish()
            except Exception as exc:
                await self._fail(exc)

    async def _fail(self, exc: BaseException | None) -> None:
        if self.failed is not None:  # reported once: by the delivery, or by whoever awaited it
            return
        self.failed = exc if exc is not None else RuntimeError("event batch failed")
        events = self.flying + self.events
        log.error(
            "a batch of %d events (%s) failed and stays uncommitted: %r",
            len(events),
            describe_positions(events),
            exc,
        )
        log.debug("the batch's failure", exc_info=exc)
        await self.on_failure(self.failed)


def _nothing_unfinished() -> bool:
    return False


def describe_positions(events: list[FaustEvent]) -> str:
    """Where a batch's events came from: topic, partition and offsets, one entry per partition."""
    spans: dict[tuple[str, int], list[int]] = {}
    for event in events:
        message = event.message
        span = spans.setdefault((message.topic, message.partition), [message.offset] * 2)
        span[0] = min(span[0], message.offset)
        span[1] = max(span[1], message.offset)
    return ", ".join(
        f"{topic} partition {partition} offsets {first}-{last}"
        for (topic, partition), (first, last) in spans.items()
    )
