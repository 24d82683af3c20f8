"""When keys need attention: arrivals in order, and wake-ups at deadlines and expiry times.

Arrivals wait in a FIFO. Where the watermark follows the newest event (replay), an arrival
behind a not-yet-due one waits at most the allowed lateness longer. Where it follows the
slowest input source (the worker), sources are read interleaved, and behind a later arrival an
event would wait until every source had passed that later time, however long that takes; there
arrivals go through `queue_for`: one earlier than the FIFO's last waits among the early arrivals
instead and is released once the watermark passes its own time, while arrivals in time order
still cost one append. Input that is only roughly in order sends most arrivals there, so they
wait unsorted in one-second buckets: a bucket the watermark has passed is sorted at once, and
only the one it is inside goes through a heap.

Wake-ups far in the future wait in minute buckets and enter the heap only as the watermark
nears them, so the heap stays small however many deadlines are outstanding.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

BUCKET_MS = 60_000
EARLY_BUCKET_MS = 1_000
_NOTHING_LOADED = -(2**62)

Owner = TypeVar("Owner")


class EarlyArrivals(Generic[Owner]):
    """(event time, key, owner) arrivals released in (time, key) order, whatever order they came
    in; equal time and key mean the same owner (a key's detector), so owners are never compared.

    A heap of them all costs a sift through every level of a large heap per release. Here they
    wait unsorted in buckets of `EARLY_BUCKET_MS`; a release sorts each bucket the watermark
    has passed, and loads the one it is inside into a heap, with the arrivals that come for
    that bucket afterwards. The heap holds only times before `_loaded_until`, the buckets only
    times from there on, so heap first, then buckets in order, is (time, key) order.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, str, Owner]] = []
        self._buckets: dict[int, list[tuple[int, str, Owner]]] = {}
        self._first_bucket: int | None = None  # the lowest in `_buckets`
        self._loaded_until = _NOTHING_LOADED

    def __len__(self) -> int:
        return len(self._heap) + sum(map(len, self._buckets.values()))

    def push(self, arrival: tuple[int, str, Owner]) -> None:
        time = arrival[0]
        if time < self._loaded_until:
            heapq.heappush(self._heap, arrival)
            return
        index = time // EARLY_BUCKET_MS
        bucket = self._buckets.get(index)
        if bucket is not None:
            bucket.append(arrival)
            return
        self._buckets[index] = [arrival]
        if self._first_bucket is None or index < self._first_bucket:
            self._first_bucket = index

    def any_before(self, watermark: int) -> bool:
        """Whether a release may have work: exact for the heap, by bucket for the rest."""
        heap, first = self._heap, self._first_bucket
        return bool(
            (heap and heap[0][0] < watermark)
            or (first is not None and first * EARLY_BUCKET_MS < watermark)
        )

    def first(self) -> int | None:
        """The earliest time waiting, if any."""
        times = [self._heap[0][0]] if self._heap else []
        if self._first_bucket is not None:
            times.append(min(map(_arrival_time, self._buckets[self._first_bucket])))
        return min(times, default=None)

    def pop_before(self, watermark: int) -> Iterator[tuple[int, str, Owner]]:
        """Every arrival before the watermark, in (time, key) order."""
        heap = self._heap
        while heap and heap[0][0] < watermark:
            yield heapq.heappop(heap)
        buckets = self._buckets
        while self._first_bucket is not None and self._first_bucket * EARLY_BUCKET_MS < watermark:
            index = self._first_bucket
            bucket = buckets.pop(index)
            self._first_bucket = min(buckets, default=None)
            end = (index + 1) * EARLY_BUCKET_MS
            if end <= watermark:  # passed whole: sorted at once
                bucket.sort()
                yield from bucket
                continue
            # The watermark is inside it: it and what comes for it wait in the heap.
            heapq.heapify(bucket)
            self._heap = heap = bucket
            self._loaded_until = end
            while heap and heap[0][0] < watermark:
                yield heapq.heappop(heap)
            return

    def clear(self) -> None:
        self._heap = []
        self._buckets.clear()
        self._first_bucket = None
        self._loaded_until = _NOTHING_LOADED


class Agenda(Generic[Owner]):
    """(event time, key) arrivals (a FIFO, and the early arrivals `queue_for` found out of
    order), and a time wheel of (time, kind, key) wake-ups."""

    def __init__(self) -> None:
        self.arrivals: deque[tuple[int, str, Owner]] = deque()
        self.early: EarlyArrivals[Owner] = EarlyArrivals()
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
            return self.early.push
        return arrivals.append

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
            or early.any_before(watermark)
            or (heap and heap[0][0] < watermark)
            or loaded is None
            or watermark > loaded
        )

    def due_arrivals(self, watermark: int) -> Iterator[tuple[int, str, Owner]]:
        """Pop every arrival before the watermark: the FIFO's in order, then the early ones'.

        Order within a key does not depend on this (a key's events wait sorted in its record),
        only the order in which keys are visited.
        """
        arrivals, early = self.arrivals, self.early
        while arrivals and arrivals[0][0] < watermark:
            yield arrivals.popleft()
        yield from early.pop_before(watermark)

    def first_arrival(self) -> int | None:
        """The earliest event time still waiting, if any. The FIFO is in time order only where
        every arrival went through `queue_for`, so it is read whole: for a batch or a timer,
        not for every event."""
        first = min(map(_arrival_time, self.arrivals), default=None)
        early = self.early.first()
        if early is not None and (first is None or early < first):
            return early
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
