"""Per-partition pre-aggregation for the alert engine, merged by one alert agent.

Each partition's detection engine counts its findings and measurements per (detector, segment,
series, event-time bucket) and sends the counts with its watermark, a few times a second, to a
one-partition topic. The alert agent adds them into one `AlertEngine` and advances it to the
lowest watermark over the partitions, so one busy segment never pins a worker and the alerts are
those a single replay of all events would give.
"""

from __future__ import annotations

from collections import Counter

import orjson
from friction_detector.detectors.alerts import AlertEngine
from friction_detector.detectors.alerts.windows import finding_series, measurement_series
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.observer import EngineObserver


class Rollup(EngineObserver):
    """Counts one partition's findings and measurements until drained."""

    def __init__(self, partition: int, bucket_ms: int) -> None:
        self.partition = partition
        self.bucket_ms = bucket_ms
        self.counts: Counter[tuple[str, str, str, int]] = Counter()
        self.watermark: int | None = None
        self._sent_watermark: int | None = None

    def _bucket(self, time_ms: int) -> int:
        return time_ms - time_ms % self.bucket_ms

    def on_finding(self, finding: Finding) -> None:
        key = (finding.detector, finding.segment, finding_series(finding.kind))
        self.counts[(*key, self._bucket(finding.time_ms))] += 1

    def on_measurement(
        self, detector: str, measurement: str, seconds: float, segment: str, time_ms: int
    ) -> None:
        series = measurement_series(measurement)
        self.counts[(detector, segment, series, self._bucket(time_ms))] += 1

    def on_watermark(self, watermark: int) -> None:
        self.watermark = watermark

    def drain(self) -> bytes | None:
        """The message for the alert agent, or None when nothing changed since the last."""
        if not self.counts and self.watermark == self._sent_watermark:
            return None
        rows = [[*key, n] for key, n in self.counts.items()]
        self.counts.clear()
        self._sent_watermark = self.watermark
        return orjson.dumps(
            {"partition": self.partition, "watermark": self.watermark, "counts": rows}
        )


class RollupMerger:
    """Feeds rollup messages into one alert engine, in step with the slowest partition."""

    def __init__(self, engine: AlertEngine, partitions: int) -> None:
        self.engine = engine
        self.partitions = partitions
        self.watermarks: dict[int, int] = {}

    def add(self, message: bytes) -> None:
        doc = orjson.loads(message)
        for detector, segment, series, bucket, n in doc["counts"]:
            self.engine.add_count(detector, segment, series, bucket, n)
        if doc["watermark"] is not None:
            self.watermarks[doc["partition"]] = doc["watermark"]
        if len(self.watermarks) == self.partitions:
            self.engine.advance(min(self.watermarks.values()))
