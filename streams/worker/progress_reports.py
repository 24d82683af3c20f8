"""The timer that reports input progress to every routed partition.

Partitions that got no items hear of the progress here; a quiet input partition whose every
message the group has committed (backlog.py) is idle and follows the wall clock, so deadlines
fire when input stops. When the broker cannot say what is unread, nothing is idle: a partition
held back only delays deadlines, one moved on too early makes its backlog late.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from friction_detector.streams.sources import input_source
from friction_detector.streams.worker.backlog import InputBacklog
from friction_detector.streams.worker.progress import InputProgress
from friction_detector.streams.worker.routing import encode_progress
from kafka.errors import KafkaError

log = logging.getLogger(__name__)

SendTo = Callable[[bytes, int], Awaitable[object]]  # (value, routed partition)


class ProgressReports:
    """What the report-progress timer does, with the idle partitions it logged as held."""

    def __init__(
        self,
        progress: InputProgress,
        backlog: InputBacklog,
        input_topics: Iterable[str],
        partitions: int,
    ) -> None:
        self.progress = progress
        self.backlog = backlog
        self.input_topics = set(input_topics)
        self.partitions = partitions
        self.idle_held: set[str] = set()  # quiet partitions held by unread input (logged once)

    async def report(self, assignment: Iterable, send_to: SendTo) -> None:
        """Send every routed partition the input partitions' progress, when it has moved;
        `assignment` is the consumer's (topic, partition) assignment."""
        self.progress.assigned(
            input_source(tp.topic, tp.partition) for tp in assignment
            if tp.topic in self.input_topics
        )  # fmt: skip
        quiet = self.progress.quiet()
        if quiet:
            self.progress.idle(await self.without_unread_input(quiet), int(time.time() * 1000))
        report = self.progress.report()
        if report is None:
            return
        value = encode_progress(report)
        for partition in range(self.partitions):
            await send_to(value, partition)

    async def without_unread_input(self, quiet: list[str]) -> list[str]:
        """Those of the `quiet` input partitions whose every message the group has committed."""
        loop = asyncio.get_running_loop()
        try:
            unread = await loop.run_in_executor(None, self.backlog.unread_by_partition)
        except Exception as error:  # a timer must never stop the worker
            if not self.idle_held:
                log.warning(
                    "idle input held: cannot count the group's unread input: %r",
                    error,
                    exc_info=not isinstance(error, KafkaError),
                )
            self.idle_held = set(quiet)
            return []
        waiting = {input_source(tp.topic, tp.partition): n for tp, n in unread.items() if n}
        held = {s for s in quiet if s in waiting}
        for source in sorted(held - self.idle_held):
            log.info("idle input held: %s has %d messages not yet read", source, waiting[source])
        if self.idle_held - held:
            log.info("idle input resumed: the group has read all input of %s",
                     ", ".join(sorted(self.idle_held - held)))  # fmt: skip
        self.idle_held = held
        return [s for s in quiet if s not in held]
