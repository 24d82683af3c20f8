"""Messages of a detection partition whose items wait in its engine, or whose state is not yet
in Kafka: its commit stops at the oldest of them.

The worker's state records leave their waiting events out (stored_core.py,
`waiting_in_records`): the routed topic holds those events already, and writing each one into
its key's record, most of them more than once, was most of the changelog's bytes. A message's
items are then safe only once applied and the state that applied them is in Kafka, which
under load is written once per commit interval, not with each batch (state_writes.py). The
message is acknowledged with its batch as before, but its partition's committed offset stays at
the oldest message held here (streams/worker/faust_internals.py `SeekSafeConsumer._new_offset`),
so after a restart or a rebalance the partition's owner reads the messages from there again:
an item already applied is a duplicate by its key's seen ids, the others wait again.

A message held for `max_hold_s` (an event dated ahead of the others, a watermark that stopped)
would hold the commit back, and the reading again after a restart grow, without bound: the
partition's waiting events up to the latest held item are then kept in the records
(`Engine.keep_waiting`), and every held message is released with the batch that writes them.
So it is once event time has moved `max_span_ms` since the oldest was held (a backlog moves it
fast): the messages behind it, applied, are read again only while their keys' seen ids are
sure to be kept (the de-duplication horizon, of which the worker takes half).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable

from friction_detector.detectors.engine import NO_WATERMARK

# A message is held at most this long before its partition's waiting events are written to the
# changelog: longer than the default allowed lateness (30 s) plus a progress report.
MAX_HOLD_S = 60.0


class HeldMessages:
    """The offsets of one partition's messages whose items wait, each with its latest item time.

    A message can be handled twice (read again after a seek back), so an offset may be held
    again, and out of offset order: it is held once, and the commit stops at the lowest."""

    def __init__(
        self,
        max_span_ms: int,
        max_hold_s: float = MAX_HOLD_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_span_ms = max_span_ms
        self.max_hold_s = max_hold_s
        self.monotonic = monotonic
        # offset -> (held since, settled time then: None before the engine had one)
        self._held: dict[int, tuple[float, int | None]] = {}
        self._by_time: list[tuple[int, int]] = []  # heap of (latest item time, offset)
        self._offsets: list[int] = []  # heap of held offsets; released ones dropped lazily

    def __len__(self) -> int:
        return len(self._held)

    def settle(self, taken: Iterable[tuple[int, int]], settled_ms: int) -> list[int]:
        """Hold a batch's messages, (offset, latest item time), until the state that applied
        their items is in Kafka: also those the batch applied already, whose state is written
        later (state_writes.py). Returns the held messages applied by `settled_ms`
        (`Engine.settled` after the batch), to release once that state is written."""
        for offset, latest in taken:
            self.hold(offset, latest, settled_ms)
        return self.applied(settled_ms)

    def hold(self, offset: int, latest_ms: int, settled_ms: int) -> None:
        """The message at `offset` has items up to `latest_ms` waiting; its partition's engine
        has settled up to `settled_ms` (`NO_WATERMARK`: none yet, as after a restart)."""
        if self._held_from_now(offset, _known(settled_ms)):
            heapq.heappush(self._by_time, (latest_ms, offset))

    def _held_from_now(self, offset: int, settled_then: int | None) -> bool:
        """Hold `offset` from now, unless it is held already; whether it was not."""
        if offset in self._held:
            return False
        self._held[offset] = (self.monotonic(), settled_then)
        heapq.heappush(self._offsets, offset)
        return True

    def applied(self, settled_ms: int) -> list[int]:
        """The held messages whose every item is before `settled_ms` (`Engine.settled`), so
        applied: they are released (`release`) once the state that applied them is in Kafka."""
        by_time = self._by_time
        offsets = []
        while by_time and by_time[0][0] < settled_ms:
            offsets.append(heapq.heappop(by_time)[1])
        return offsets

    def overdue(self, settled_ms: int) -> int | None:
        """The latest item time of the held messages whose items wait if the first of them (the
        lowest offset) has been held `max_hold_s`, or event time has settled `max_span_ms`
        further since it was held (since the engine had a settled time, for one held before):
        the partition's waiting events up to it are to be kept in its records (`keep_all`).
        Messages applied and held only until their state is written do not count: a write
        releases them soon."""
        if not self._by_time:
            return None
        first = min(offset for _, offset in self._by_time)
        since, settled_then = self._held[first]
        settled_now = _known(settled_ms)
        if settled_then is None and settled_now is not None:
            settled_then = settled_now
            self._held[first] = (since, settled_then)
        moved = 0 if settled_then is None or settled_now is None else settled_now - settled_then
        if self.monotonic() - since < self.max_hold_s and moved < self.max_span_ms:
            return None
        return max(latest for latest, _ in self._by_time)

    def hold_applied(self, offsets: Iterable[int]) -> list[int]:
        """Hold messages the batch handled that are not held yet, none of whose items wait (a
        progress report, which moved the watermark, or items of no detector run here), until
        the state they changed is written; returns them, for that write to release."""
        return [offset for offset in offsets if self._held_from_now(offset, None)]

    def keep_all(self) -> list[int]:
        """Every held message, its items now kept in the records: released with them."""
        self._by_time.clear()
        return list(self._held)

    def release(self, offsets: list[int]) -> None:
        """The messages' items are applied or kept in the records, and that state is in Kafka."""
        for offset in offsets:
            self._held.pop(offset, None)

    def first(self) -> int | None:
        """The lowest held offset: the partition is committed up to it, not past it."""
        offsets, held = self._offsets, self._held
        while offsets and offsets[0] not in held:
            heapq.heappop(offsets)
        return offsets[0] if offsets else None


def _known(settled_ms: int) -> int | None:
    """A settled time, or None where the engine has none yet (after a restart, until progress
    passes the sources it restored)."""
    return settled_ms if settled_ms > NO_WATERMARK else None
