"""The routed partitions this worker detects on: one runtime object per partition.

A routed partition's detection needs an engine, the partition's slice of the state table, a
rollup for the alerts, its share of the state-size gauge, and its messages whose items still
wait (held_messages.py). They live together in one `DetectionPartition`, so taking a partition
on is one creation and giving it back (a revoke) is one removal: nothing of a partition another
worker now owns is left behind to count or to hold its commit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress

import faust
from friction_detector.detectors.api import Detector
from friction_detector.detectors.config import Config
from friction_detector.detectors.engine import KEY_SEPARATOR, SOURCES_KEY
from friction_detector.detectors.events import BadInput, Event
from friction_detector.detectors.finding_events import FindingsOnly
from friction_detector.detectors.observer import EngineObserver, FanOut
from friction_detector.detectors.stored_core import WorkerEngine, worker_engine
from friction_detector.streams.dead_letter import detector_error_input
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.sources import source_topic
from friction_detector.streams.worker.alerting import WorkerAlerting
from friction_detector.streams.worker.faust_internals import BatchSize, GuardedFaustApp
from friction_detector.streams.worker.held_messages import HeldMessages
from friction_detector.streams.worker.partition_store import PartitionStore, own_key

log = logging.getLogger(__name__)

# Dead-letters an event a detector raised on: (bad input, source, position).
Letter = Callable[[BadInput, str, str], None]
# Reports a dropped state (dropped_state.py): (detector, key, changelog, partition, record).
ReportDropped = Callable[[str, str, str, int, bytes], Awaitable[None]]


def detector_error(
    metrics: FrictionMetrics,
    letter: Letter,
    detector: str,
    event: Event | None,
    error: Exception,
    source: str,
) -> None:
    """Count and log a detector's error; dead-letter the event it raised on, if any."""
    metrics.on_detector_error(detector, event, error)
    where = f"event {event.event_id}" if event is not None else "a deadline"
    log.warning("detector %s raised on %s: %r", detector, where, error)
    if event is not None:
        letter(detector_error_input(detector, event, error), source, event.event_id)


class DetectionPartition(EngineObserver):
    """One routed partition's engine and store, and the hooks that report on them.

    The engine's hooks go to the metrics; the state-size gauge is the sum over the partitions
    this worker owns (`sizes`, shared by them). An event a detector raised on goes to the dead
    letters (`letter`), which the detect agent sends with the batch's findings. A key's state
    that the changelog refuses as too large is dropped and reported (`report_dropped`) before
    its deletion is written (`state_too_large`).
    """

    passes_on = frozenset({
        "on_late", "on_duplicate", "on_finding", "on_outcome", "on_journey_opened",
        "on_journey", "on_measurement", "on_watermark",
    })  # fmt: skip

    def __init__(
        self,
        partition: int,
        engine_of: Callable[[EngineObserver, PartitionStore], WorkerEngine],
        store: PartitionStore,
        metrics: FrictionMetrics,
        alerting: WorkerAlerting | None,
        sizes: dict[str, dict[int, int]],
        letter: Letter,
        report_dropped: ReportDropped,
        held: HeldMessages,
    ) -> None:
        self.partition = partition
        self.store = store
        self.metrics = metrics
        self.sizes = sizes
        self.letter = letter
        self.report_dropped = report_dropped
        self.held = held
        store.on_too_large = self.state_too_large
        observer: EngineObserver = (
            FanOut(self, alerting.rollup_for(partition))
            if alerting is not None
            else FindingsOnly(self)  # detectors over findings: their input is no event
        )
        self.engine = engine_of(observer, store)

    def passed_to(self) -> EngineObserver:
        return self.metrics

    def on_state_size(self, detector: str, keys: int) -> None:
        per_partition = self.sizes.setdefault(detector, {})
        per_partition[self.partition] = keys
        self.metrics.on_state_size(detector, sum(per_partition.values()))

    def on_detector_error(self, detector: str, event: Event | None, error: Exception) -> None:
        detector_error(
            self.metrics, self.letter, detector, event, error,
            f"detection partition {self.partition}",
        )  # fmt: skip

    def state_too_large(self, skey: str, record: bytes, error: BaseException) -> Awaitable[None]:
        """The changelog refused the key's state record as too large: the engine forgets the
        key at once, whose detection starts again from empty, and the record is reported
        (`report_dropped`). The input sources' progress is no detector's state: its refusal
        fails the batch."""
        detector, _, key = skey.partition(KEY_SEPARATOR)
        if detector not in self.engine.detectors:
            raise error
        self.engine.drop(skey)
        changelog = self.store.changelog.topic
        return self.report_dropped(detector, key, changelog, self.partition, record)


class DetectionPartitions:
    """The routed partitions this worker owns, each created and restored on first use.

    Each engine's watermark waits for every source in `expected` to report progress: for stage
    2 every input partition there is (a backlog read one partition at a time is not late).
    Stage 3 (the detectors over findings) uses one too, over the customers topic: its
    `detectors` are those, its input topics the routed topic (whose partitions' watermarks are
    its sources, all `expected` before its watermark moves), no allowed lateness and no rollup.

    Each partition's engine writes its records without their waiting events, which stay in
    `topic`, the partitions' own: `app` commits each partition only up to its oldest message
    with items waiting (`DetectionPartition.held`), until the partition is revoked.
    """

    def __init__(
        self,
        config: Config,
        table: faust.Table,
        partitions: int,
        input_topics: list[str],
        metrics: FrictionMetrics,
        alerting: WorkerAlerting | None,
        letter: Letter,
        report_dropped: ReportDropped,
        *,
        app: GuardedFaustApp,
        topic: str,
        detectors: Sequence[Detector] | None = None,
        allowed_lateness_ms: int | None = None,
        expected: Sequence[str] = (),
    ) -> None:
        self.config = config
        self.table = table
        self.partitions = partitions
        self.input_topics = set(input_topics)
        self.metrics = metrics
        self.alerting = alerting
        self.letter = letter
        self.report_dropped = report_dropped
        self.app = app
        self.topic = topic
        self.detectors = config.detectors if detectors is None else detectors
        self.allowed_lateness_ms = (
            config.engine.allowed_lateness_ms
            if allowed_lateness_ms is None
            else allowed_lateness_ms
        )
        self.expected = expected
        self.owned: dict[int, DetectionPartition] = {}
        self.sizes: dict[str, dict[int, int]] = {}  # detector -> partition -> keys held
        self.batch_size = BatchSize()  # the table's changelog batches, for all its partitions

    def get(self, partition: int) -> DetectionPartition:
        """The partition's runtime; on first use, its engine is restored from the table."""
        owned = self.owned.get(partition)
        if owned is None:
            key_spaces = {d.name: d.key_space for d in self.detectors if d.key_space}
            store = PartitionStore(
                self.table, partition, self.partitions, self.batch_size, key_spaces
            )
            # Messages behind a held one are read again while their keys' seen ids are kept.
            held = HeldMessages(max_span_ms=self.config.engine.dedup_horizon_ms // 2)
            owned = DetectionPartition(
                partition, self._engine, store, self.metrics, self.alerting, self.sizes,
                self.letter, self.report_dropped, held,
            )  # fmt: skip
            owned.engine.restore()
            owned.engine.forget_sources(lambda source: source_topic(source) in self.input_topics)
            owned.engine.expect_sources(self.expected)
            self.app.hold_commits(self.topic, partition, owned.held)
            self.owned[partition] = owned
        return owned

    def find(self, partition: int) -> DetectionPartition | None:
        """The partition's runtime if this worker holds one."""
        return self.owned.get(partition)

    def revoke(self, partition: int) -> None:
        """The partition moved away: its engine, store, rollup and state counts go with it.

        Its new owner restores the state from the changelog, counts its keys, and reads again
        the messages whose items were still waiting."""
        self.owned.pop(partition, None)
        self.app.drop_commit_hold(self.topic, partition)
        with suppress(KeyError):  # its new owner reports what it holds
            self.metrics.held_messages.remove(self.topic, str(partition))
        if self.alerting is not None:
            self.alerting.forget(partition)
        for detector, per_partition in self.sizes.items():
            if per_partition.pop(partition, None) is not None:
                self.metrics.on_state_size(detector, sum(per_partition.values()))

    def _engine(self, observer: EngineObserver, store: PartitionStore) -> WorkerEngine:
        settings = self.config.engine
        return worker_engine(
            self.detectors,
            allowed_lateness_ms=self.allowed_lateness_ms,
            dedup_horizon_ms=settings.dedup_horizon_ms,
            store=store,
            observer=observer,
            sources_key=own_key(SOURCES_KEY + KEY_SEPARATOR, store.partition, self.partitions),
            waiting_in_records=False,  # `topic` holds them, read again after a restart
        )
