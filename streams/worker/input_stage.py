"""Stage 1 whole: the input reader, the route stage, the input partitions' progress and the
progress reports of its timer, as one object.

It runs in the worker's process (`input_stage = "inline"`: the app's task and timer drive it)
or in a process of its own (`"process"`, input_process.py): stage 1 keeps no state, so it needs
nothing of the app but the routed topic it writes to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from friction_detector.detectors.config import Config
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.backlog import InputBacklog
from friction_detector.streams.worker.input_reader import InputReader
from friction_detector.streams.worker.progress import InputProgress
from friction_detector.streams.worker.progress_reports import ProgressReports, SendTo
from friction_detector.streams.worker.records import WorkerRecords
from friction_detector.streams.worker.route import RouteStage


class InputStage:
    """Reads, routes and commits the input (`run`, until `stop`); `report_progress` is the
    timer's work, every `settings.tick_interval_s`."""

    def __init__(
        self,
        settings: WorkerSettings,
        config: Config,
        records: WorkerRecords,
        metrics: FrictionMetrics,
        on_failure: Callable[[BaseException], Awaitable[None]],
        group_timing: Mapping[str, int] | None = None,
    ) -> None:
        self.settings = settings
        self.progress = InputProgress(settings.idle_advance_s)
        self.route_stage = RouteStage(
            settings, config.decoder(), config.detectors, records, self.progress, metrics
        )
        self.reports = ProgressReports(
            self.progress,
            InputBacklog(settings, settings.input_group, settings.input_topics),
            settings.input_topics,
            settings.partitions,
        )
        self.reader = InputReader(
            settings, self.route_stage, metrics, on_failure, group_timing=group_timing
        )

    async def run(self) -> None:
        await self.reader.run()

    async def report_progress(self, send_to: SendTo) -> None:
        """The input partitions' progress to every routed partition (progress_reports.py)."""
        await self.reports.report(self.reader.assignment(), send_to)

    async def stop(self) -> None:
        """Finish the batch in hand and leave the input group."""
        try:
            await self.reader.stop()
        finally:
            self.reports.backlog.close()
