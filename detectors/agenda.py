"""When keys need attention: arrivals in order, and wake-ups at deadlines and expiry times.

Wake-ups far in the future wait in minute buckets and enter the heap only as the watermark
nears them, so the heap stays small however many deadlines are outstanding.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

BUCKET_MS = 60_000

Owner = TypeVar("Owner")


class Agenda(Generic[Owner]):
    """A FIFO of (event time, key) arrivals and a time wheel of (time, kind, key) wake-ups."""

    def __init__(self) -> None:
        self.arrivals: deque[tuple[int, str, Owner]] = deque()
        self._heap: list[tuple[int, int, str]] = []
        self._wheel: dict[int, list[tuple[int, int, str]]] = {}
        self._loaded_until: int | None = None

    def arrive(self, time: int, skey: str, owner: Owner) -> None:
        """An event for `skey` (kept by `owner`, handed back on release) waits until `time`."""
        self.arrivals.append((time, skey, owner))

    def wake(self, at: int, kind: int, skey: str) -> None:
        """Visit `skey` once the watermark passes `at`; a visit with nothing due is harmless."""
        loaded = self._loaded_until
        if loaded is not None and at < loaded:
            heapq.heappush(self._heap, (at, kind, skey))
        else:
            self._wheel.setdefault(at // BUCKET_MS, []).append((at, kind, skey))

    def anything_due(self, watermark: int) -> bool:
        """Whether a release up to `watermark` has work: the cheap check done on every event."""
        arrivals, heap, loaded = self.arrivals, self._heap, self._loaded_until
        return bool(
            (arrivals and arrivals[0][0] < watermark)
            or (heap and heap[0][0] < watermark)
            or loaded is None
            or watermark > loaded
        )

    def due_arrivals(self, watermark: int) -> Iterator[tuple[int, str, Owner]]:
        """Pop arrivals in arrival order while the oldest is before the watermark.

        An arrival behind a not-yet-due one waits at most the allowed lateness longer; order
        within a key does not depend on this, only how soon a finding appears.
        """
        arrivals = self.arrivals
        while arrivals and arrivals[0][0] < watermark:
            yield arrivals.popleft()

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
        self._heap.clear()
        self._wheel.clear()
        self._loaded_until = None
