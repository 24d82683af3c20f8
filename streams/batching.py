"""Batches of handled events, acknowledged only once what they produced is in Kafka.

Each agent takes events one by one from Faust's stream (so Faust still skips records of an
older consumer generation or of a stopped flow), handles each one at once, and holds it until
the batch is finished: its outputs sent and awaited, then the events acknowledged. A batch is
finished as soon as no further event waits in the stream's queue, or when it is full, so a light
load goes out event by event and a heavy one in batches of what queued meanwhile. Paying the
broker's round trip and Faust's per-message costs once per batch is what lets one worker keep
up with thousands of events per second.

A held event is never left behind: if the queue looked busy but everything in it was then
skipped (during a rebalance), the agent waits for input with events unacknowledged, and Faust's
revocation waits for those acknowledgements. A timer therefore finishes any batch that has been
waiting longer than `linger_s` (`finish_stale`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

# At most this many events are handled before their outputs are sent.
BATCH_MAX = 1000
# A batch left waiting this long is finished by the timer.
BATCH_LINGER_S = 0.05

Event = Any  # a Faust event (faust.types.EventT)


class EventBatch:
    """One agent's handled, unacknowledged events, and how to finish them.

    `finish(events)` publishes what the events produced and returns once the broker has it. It
    runs under `lock`, as does handling an event, so no event is handled while a batch's outputs
    are in flight: a finish sees exactly the work of its events.
    """

    def __init__(
        self,
        stream: Any,
        finish: Callable[[list[Event]], Awaitable[None]],
        max_events: int = BATCH_MAX,
        linger_s: float = BATCH_LINGER_S,
    ) -> None:
        self.stream = stream
        self.queue = stream.channel.queue
        self.finish = finish
        self.max_events = max_events
        self.linger_s = linger_s
        self.lock = asyncio.Lock()
        self.events: list[Event] = []
        self.last_added = 0.0

    async def handle(self, event: Event, handler: Callable[[Event], None]) -> None:
        """Run `handler(event)` (synchronous: it only records work) and hold the event."""
        async with self.lock:
            handler(event)
            self.events.append(event)
            self.last_added = time.monotonic()
            if len(self.events) >= self.max_events or self.queue.empty():
                await self._finish()

    async def finish_stale(self) -> None:
        """Finish a batch that has waited longer than `linger_s` for its agent."""
        if self.events and time.monotonic() - self.last_added >= self.linger_s:
            async with self.lock:
                if self.events:
                    await self._finish()

    async def _finish(self) -> None:
        events, self.events = self.events, []
        await self.finish(events)
        ack = self.stream.ack
        for event in events:
            await ack(event)
