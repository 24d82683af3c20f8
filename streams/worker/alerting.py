"""The worker's alerting: partition rollups in, one alert engine, alerts out.

Every worker keeps a `Rollup` per detection partition it owns and sends it on a timer; the one
worker that owns the single partition of the rollups topic merges them into the alert engine,
publishes alerts to the alerts topic and, when configured, to Alertmanager, and keeps the
engine's snapshot in a table so a restart resumes the incident rather than paging anew.
"""

from __future__ import annotations

import logging

from friction_detector.detectors.alerts import Alert, AlertEngine, load_alert_settings
from friction_detector.detectors.config import Config
from friction_detector.streams.cli.alert_sink import count_alert
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.rollups import Rollup, RollupMerger

log = logging.getLogger(__name__)


class WorkerAlerting:
    """Rollups of the partitions this worker detects on, and the merging alert engine."""

    def __init__(self, config: Config, metrics: FrictionMetrics, partitions: int) -> None:
        settings = load_alert_settings(config.sections.get("alerts"))
        self.bucket_ms = settings.bucket_s * 1000
        self.metrics = metrics
        self.engine = AlertEngine(settings)
        self.merger = RollupMerger(self.engine, partitions)
        self.rollups: dict[int, Rollup] = {}
        self.restored = False
        # The offset of the last rollup merged, kept in the snapshot with the counts it added:
        # after a crash the agent reads again from its last commit, which can be older.
        self.merged_offset = -1
        self.rereading = False  # since a restore, until a rollup after `merged_offset`

    def rollup_for(self, partition: int) -> Rollup:
        rollup = self.rollups.get(partition)
        if rollup is None:
            rollup = self.rollups[partition] = Rollup(partition, self.bucket_ms)
        return rollup

    def forget(self, partition: int) -> None:
        """A revoked partition's counts go with it; its new owner counts from its changelog."""
        self.rollups.pop(partition, None)

    def drain(self) -> list[bytes]:
        """Messages for the rollups topic, one per partition with news."""
        return [m for rollup in self.rollups.values() if (m := rollup.drain()) is not None]

    def merge(self, message: bytes, offset: int) -> list[Alert]:
        """Add one rollup; return the alerts that became due, counted in the metrics.

        Read again after a restore, a rollup at or before the last merged offset is already in
        the engine: it is skipped. Otherwise offsets only go back when the topic was created
        again: the rollup is merged."""
        if offset <= self.merged_offset:
            if self.rereading:
                return []
            self._created_again(f"went back from offset {self.merged_offset} to {offset}")
        self.rereading = False
        self.merged_offset = offset
        self.merger.add(message)
        alerts = self.engine.take_alerts()
        for alert in alerts:
            count_alert(self.metrics, alert)
        return alerts

    def snapshot(self) -> dict:
        """Plain data for the alert table: the engine, the partitions' watermarks and the
        offset of the last rollup they include."""
        return {
            "engine": self.engine.snapshot(),
            "watermarks": list(self.merger.watermarks.items()),
            "merged_offset": self.merged_offset,
        }

    def restore(self, snapshot: dict | None, end_offset: int | None = None) -> None:
        """Resume from a stored snapshot before the first merge after a start or a rebalance.

        Its firing alerts show in the firing gauge; `friction_alerts_total` counted them when
        they fired, and every rebalance restores them again. `end_offset`, the rollups topic's
        end when known: a topic that ends at or before the last rollup the snapshot holds was
        created again, and its offsets started over, so every rollup on it is merged."""
        self.restored = True
        if not snapshot:
            return
        self.rereading = True
        self.engine.restore(snapshot["engine"])
        self.merger.watermarks = {int(p): w for p, w in snapshot["watermarks"]}
        self.merged_offset = snapshot.get("merged_offset", -1)  # absent before it was kept
        if end_offset is not None and end_offset <= self.merged_offset:
            self._created_again(
                f"ends at offset {end_offset}, before the last rollup the alert state holds "
                f"({self.merged_offset})"
            )
        for alert in self.engine.firing():
            self._show_firing(alert, True)

    def _created_again(self, seen: str) -> None:
        """The rollups topic's offsets started over: the kept offset says nothing of them."""
        log.warning("the rollups topic %s: it was created again; merging every rollup on it", seen)
        self.merged_offset = -1

    def hand_over(self) -> None:
        """The alert agent moved to another worker: its alerts are no longer shown here (the
        dashboards take the highest value over the workers, so a stale 1 would stay firing),
        and should it come back it resumes from the snapshot its other owner kept."""
        for alert in self.engine.firing():
            self._show_firing(alert, False)
        self.restored = False

    def _show_firing(self, alert: Alert, firing: bool) -> None:
        labels = alert.labels
        self.metrics.set_alert_firing(
            labels["alertname"], labels["detector"], labels.get("segment", ""), firing
        )
