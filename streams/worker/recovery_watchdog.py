"""Reads a table's changelog partition again when Faust's recovery stops receiving it.

After a rebalance, Faust restores each table partition by reading its changelog up to the
highwater it measured, and the worker is not ready until every partition is there. In Faust
0.15.3 a changelog record can get lost between the Kafka fetcher and the recovery (for example,
records taken from the fetcher while the flow is stopped are dropped). The fetcher's position
is then past the lost records, so the recovery waits for them forever: the log repeats "No
event received for active tp" and the partitions the worker owns are never processed.

The watchdog checks the recovery every second. A changelog partition that is below its
highwater and has not advanced for `stall_s` is sought back to the first offset the recovery
has not applied, which is what the recovery itself does when it starts. Records it has
applied already are skipped by the recovery, so reading again never applies a change twice.
What the watchdog reads of the recovery, and the seek, are Faust internals: they live in
streams/worker/faust_internals.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable, Iterable, Mapping
from typing import Generic, TypeVar

import faust
from faust.types import TP
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.faust_internals import (
    fetch_position,
    read_changelog_from,
    recovering_changelogs,
)
from mode import Service

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0
STALL_S = 5.0
Partition = TypeVar("Partition", bound=Hashable)  # a TP in the worker, anything hashable in tests


class StallTracker(Generic[Partition]):
    """Which partitions have stayed behind their highwater, without progress, for `stall_s`."""

    def __init__(self, stall_s: float = STALL_S) -> None:
        self.stall_s = stall_s
        self._since: dict[Partition, tuple[int, float]] = {}  # partition -> (offset, since)

    def stalled(self, progress: Mapping[Partition, tuple[int, int]], now: float) -> list[Partition]:
        """Partitions of `progress` ({partition: (applied offset, highwater)}) that are stuck.

        A partition reported stuck starts a new period, so it is reported again only after
        another `stall_s` without progress.
        """
        stuck = []
        for tp, (applied, highwater) in progress.items():
            if applied >= highwater:
                self._since.pop(tp, None)
                continue
            seen = self._since.get(tp)
            if seen is None or seen[0] != applied:
                self._since[tp] = (applied, now)
            elif now - seen[1] >= self.stall_s:
                stuck.append(tp)
                self._since[tp] = (applied, now)
        for tp in [tp for tp in self._since if tp not in progress]:
            del self._since[tp]
        return stuck


def recovery_progress(
    tps: Iterable[Partition],
    offsets: Mapping[Partition, int | None],
    highwaters: Mapping[Partition, int | None],
) -> dict[Partition, tuple[int, int]]:
    """{partition: (applied offset, highwater)} of the partitions whose highwater is known.

    Faust marks "nothing applied yet" as -1 or leaves the offset unset or None.
    """
    progress: dict[Partition, tuple[int, int]] = {}
    for tp in list(tps):
        highwater = highwaters.get(tp)
        if highwater is None:
            continue
        applied = offsets.get(tp)
        progress[tp] = (-1 if applied is None else applied, highwater)
    return progress


class RecoveryWatchdog(Service):
    """Runs beside the app (started before it, so it also covers the first recovery)."""

    def __init__(
        self,
        app: faust.App,
        metrics: FrictionMetrics,
        stall_s: float = STALL_S,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.app = app
        self.metrics = metrics
        self.tracker: StallTracker[TP] = StallTracker(stall_s)

    @Service.timer(CHECK_INTERVAL_S)
    async def _check(self) -> None:
        """One look at the recovery; a failure is logged, never allowed to stop the worker."""
        try:
            recovering = recovering_changelogs(self.app)
            progress = recovery_progress(*recovering) if recovering is not None else {}
            for tp in self.tracker.stalled(progress, time.monotonic()):
                await self._read_again(tp, *progress[tp])
        except Exception:
            log.exception("table recovery watchdog: check failed; trying again in %ss",
                          CHECK_INTERVAL_S)  # fmt: skip

    async def _read_again(self, tp, applied: int, highwater: int) -> None:
        position = await fetch_position(self.app, tp)
        log.warning(
            "table recovery of %s[%d] stalled at offset %d of %d (fetch position %s); "
            "reading the changelog again from offset %d",
            tp.topic, tp.partition, applied, highwater, position, applied + 1,
        )  # fmt: skip
        await read_changelog_from(self.app, tp, applied + 1)
        self.metrics.changelog_rereads.labels(topic=tp.topic).inc()
