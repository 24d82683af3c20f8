"""When keys need attention: arrivals in order, and wake-ups at deadlines and expiry times.

Arrivals wait in a FIFO. Where the watermark follows the newest event (replay), an arrival
behind a not-yet-due one waits at most the allowed lateness longer. Where it follows the
slowest input source (the worker), sources are read interleaved, and behind a later arrival an
event would wait until every source had passed that later time, however long that takes; there
arrivals go through `queue_for`: one earlier than the FIFO's last waits in a small heap
instead and is released once the watermark passes its own time, while arrivals in time order
(the usual case) still cost one append.

Wake-ups far in the future wait in minute buckets and enter the heap only as the watermark
nears them, so the heap stays small however many deadlines are outstanding.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

BUCKET_MS = 60_000

Owner = TypeVar("Owner")


class Agenda(Generic[Owner]):
    """(event time, key) arrivals (a FIFO, and a heap of those `queue_for` found out of order),
    and a time wheel of (time, kind, key) wake-ups."""

    def __init__(self) -> None:
        self.arrivals: deque[tuple[int, str, Owner]] = deque()
        # Heap of arrivals earlier than the FIFO's last. Equal time and key mean the same owner
        # (a key's detector), so entries never compare owners.
        self.early: list[tuple[int, str, Owner]] = []
        self._heap: list[tuple[int, int, str]] = []
        self._wheel: dict[int, list[tuple[int, int, str]]] = {}
        self._loaded_until: int | None = None

    def arrive(self, time: int, skey: str, owner: Owner) -> None:
        """An event for `skey` (kept by `owner`, handed back on release) waits until `time`."""
        self.queue_for(time)((time, skey, owner))

    def queue_for(self, time: int) -> Callable[[tuple[int, str, Owner]], None]:
        """Where arrivals at `time` go: the FIFO, unless that is earlier than its last arrival.
        The engine asks once per event, then queues one arrival per key of the event."""
        arrivals = self.arrivals
        if arrivals and time < arrivals[-1][0]:
            return self._push_early
        return arrivals.append

    def _push_early(self, arrival: tuple[int, str, Owner]) -> None:
        heapq.heappush(self.early, arrival)

    def wake(self, at: int, kind: int, skey: str) -> None:
        """Visit `skey` once the watermark passes `at`; a visit with nothing due is harmless."""
        loaded = self._loaded_until
        if loaded is not None and at < loaded:
            heapq.heappush(self._heap, (at, kind, skey))
        else:
            bucket = self._wheel.get(at // BUCKET_MS)  # not setdefault: no list made per call
            if bucket is None:
                self._wheel[at // BUCKET_MS] = [(at, kind, skey)]
            else:
                bucket.append((at, kind, skey))

    def anything_due(self, watermark: int) -> bool:
        """Whether a release up to `watermark` has work: the cheap check done on every event."""
        arrivals, early, heap, loaded = self.arrivals, self.early, self._heap, self._loaded_until
        return bool(
            (arrivals and arrivals[0][0] < watermark)
            or (early and early[0][0] < watermark)
            or (heap and heap[0][0] < watermark)
            or loaded is None
            or watermark > loaded
        )

    def due_arrivals(self, watermark: int) -> Iterator[tuple[int, str, Owner]]:
        """Pop every arrival before the watermark: the FIFO's in order, then the heap's.

        Order within a key does not depend on this (a key's events wait sorted in its record),
        only the order in which keys are visited.
        """
        arrivals, early = self.arrivals, self.early
        while arrivals and arrivals[0][0] < watermark:
            yield arrivals.popleft()
        while early and early[0][0] < watermark:
            yield heapq.heappop(early)

    def first_arrival(self) -> int | None:
        """The earliest event time still waiting, if any. The FIFO is in time order only where
        every arrival went through `queue_for`, so it is read whole: for a batch or a timer,
        not for every event."""
        arrivals, early = self.arrivals, self.early
        first = min(map(_arrival_time, arrivals), default=None)
        if early and (first is None or early[0][0] < first):
            return early[0][0]
        return first

    def due_wakeups(self, watermark: int) -> Iterator[tuple[int, int, str]]:
        """Pop wake-ups due before the watermark, earliest first."""
        self._load(watermark)
        heap = self._heap
        while heap and heap[0][0] < watermark:
            yield heapq.heappop(heap)

    def _load(self, watermark: int) -> None:
        loaded = self._loaded_until
        if loaded is not None and watermark <= loaded:
            return
        target = watermark // BUCKET_MS + 1
        buckets: Iterable[int]
        if loaded is None or target - loaded // BUCKET_MS > len(self._wheel):
            buckets = [bucket for bucket in self._wheel if bucket < target]
        else:
            buckets = range(loaded // BUCKET_MS, target)
        heap = self._heap
        for bucket in buckets:
            for entry in self._wheel.pop(bucket, ()):
                heapq.heappush(heap, entry)
        self._loaded_until = target * BUCKET_MS

    def clear(self) -> None:
        self.arrivals.clear()
        self.early.clear()
        self._heap.clear()
        self._wheel.clear()
        self._loaded_until = None


def _arrival_time(arrival: tuple) -> int:
    return arrival[0]
