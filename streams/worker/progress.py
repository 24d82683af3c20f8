"""Stage 1's event-time progress per input partition: what routed messages report to stage 2.

Each input partition's progress is the newest event time read from it. Stage 2's engines keep
the progress of every input partition and move their watermark by the slowest one
(`Engine.advance_sources`), so a stalled partition's backlog is on time when it is read, and a
busy partition cannot make a quiet one's events late.

Progress is published only once the broker has every routed message of the events it covers:
a report never runs ahead of the items it vouches for. An input partition this worker reads
that has been quiet for `idle_after_s`, and whose every message the group has committed, is
idle: its progress follows the wall clock, so deadlines still fire when input stops (as Kafka
Streams and Flink stop waiting for idle partitions). A partition that nobody reads (its member
was killed and the group has not noticed yet) is never idle here: it holds the watermark until
its new owner reads its backlog.

A batch's routed messages carry its progress to the routed partitions that got items from it;
`HeardProgress` picks the other routed partitions it must reach at once, with a progress report
of its own in the same delivery: those whose slowest input partition it moves, so an engine
waiting on a partition this batch read releases its events now, not at the next items for it or
the next timer report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable


class InputProgress:
    """Progress of the input partitions this worker reads, and which of them are idle."""

    def __init__(
        self, idle_after_s: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.idle_after_s = idle_after_s
        self.monotonic = monotonic
        self.published: dict[str, int] = {}  # progress whose routed items the broker has
        self.batch: dict[str, int] = {}  # progress of the batch being handled
        self.last_input: dict[str, float] = {}  # per assigned source: when it last had input
        self.reported: dict[str, int] = {}  # what the last progress report said

    def saw(self, source: str, time_ms: int | None) -> None:
        """Input read from `source`; `time_ms` is its newest event time (None: bad input only).
        Stage 1 tells it once per partition of each batch it publishes."""
        self.last_input[source] = self.monotonic()
        if time_ms is not None and time_ms > self.batch.get(source, time_ms - 1):
            self.batch[source] = time_ms

    def for_batch(self) -> dict[str, int]:
        """What the batch's routed messages report: the published progress and the batch's."""
        merged = dict(self.published)
        _merge(merged, self.batch)
        return merged

    def batch_published(self) -> None:
        """The broker has the batch's routed messages: its progress is published."""
        _merge(self.published, self.batch)
        self.batch.clear()

    def assigned(self, sources: Iterable[str]) -> None:
        """The input partitions this worker reads now: a new one's idle clock starts now, and
        a lost one's progress is its new owner's to report."""
        sources = set(sources)
        now = self.monotonic()
        for source in sources - self.last_input.keys():
            self.last_input[source] = now
        for source in self.last_input.keys() - sources:
            del self.last_input[source]
            self.published.pop(source, None)

    def quiet(self) -> list[str]:
        """Assigned partitions without input for `idle_after_s`: idle once the group's committed
        offsets show nothing unread on them."""
        now = self.monotonic()
        return [s for s, at in self.last_input.items() if now - at >= self.idle_after_s]

    def idle(self, sources: Iterable[str], wall_ms: int) -> None:
        """`sources` are idle: their progress follows the wall clock."""
        quiet = set(self.quiet())
        _merge(self.published, {s: wall_ms for s in sources if s in quiet})

    def report(self) -> dict[str, int] | None:
        """The published progress, when it has changed since the last report."""
        if self.published == self.reported:
            return None
        self.reported = dict(self.published)
        return self.reported


class HeardProgress:
    """What each routed partition has been sent of this worker's input progress.

    An engine's watermark is its slowest input partition's progress (`Engine.advance_sources`),
    over the input partitions of every worker. A report from this worker moves it only if it
    moves the slowest of this worker's partitions, as that engine heard them: raising any other
    leaves a partition of this worker at or below it, and the others' partitions where they
    were. So a batch that brings nothing new to a routed partition's slowest input partition
    sends that partition nothing. What it records is what was sent, not what the engine holds:
    after a rebalance an engine may have heard a partition higher from its previous owner, or a
    routed message may have been replaced by dead letters; a report skipped then comes with the
    next timer report (`tick_interval_s`), which sends every moved progress to every partition.
    """

    def __init__(self, partitions: int) -> None:
        self.heard: list[dict[str, int]] = [{} for _ in range(partitions)]

    def waiting(self, progress: dict[str, int], sent: Iterable[int] = ()) -> list[int]:
        """Routed partitions, other than `sent`, whose slowest input partition `progress` moves."""
        if not progress:
            return []
        skip = set(sent)
        moved = []
        for partition, heard in enumerate(self.heard):
            if partition in skip:
                continue
            before = min(heard.get(source, _UNHEARD) for source in progress)
            after = min(max(t, heard.get(source, t)) for source, t in progress.items())
            if after > before:
                moved.append(partition)
        return moved

    def told(self, partitions: Iterable[int], progress: dict[str, int]) -> None:
        """The broker has `progress` for each of these routed partitions."""
        for partition in partitions:
            _merge(self.heard[partition], progress)


_UNHEARD = -(2**63)  # below any event time: a partition not yet heard of holds every engine


def _merge(into: dict[str, int], progress: dict[str, int]) -> None:
    for source, time_ms in progress.items():
        if time_ms > into.get(source, time_ms - 1):
            into[source] = time_ms
