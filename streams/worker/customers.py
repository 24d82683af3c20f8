"""What stage 2 sends the detectors over findings (stage 3): findings keyed by customer.

A detector over findings (`friction_accumulated`) keys on the customer, while stage 2's
findings come out on partitions keyed by each detector's own key. So stage 2 sends each
finding, as a routed item (routing.py), to the partition of its customer's state key on the
internal customers topic, with the batch's other outputs. Stage 3 keeps one engine per
customers partition, like stage 2, whose watermark is the slowest routed partition's settled
time: once a
batch's findings are in Kafka, stage 2 reports its partitions' settled times (`Engine.settled`:
every finding before it has been emitted) to every customers partition (a progress report,
routing.py), on a timer. A finding is in Kafka before the settled time past it is reported, so
a customers partition has every finding before t when its watermark passes t: the same
findings, in the same event-time order, as replay's detectors over findings see.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from friction_detector.detectors.api import Detector
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.finding_events import finding_event
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.stored_core import WorkerEngine
from friction_detector.streams.sources import input_source
from friction_detector.streams.worker.delivery import Outgoing
from friction_detector.streams.worker.records import WorkerRecords
from friction_detector.streams.worker.routing import (
    RoutedBatch,
    encode_progress,
    routed_items,
    routed_message_bytes,
)


class CustomerFindings:
    """Stage 2's side of stage 3: findings to their customers' partitions, and the routed
    partitions' settled times once their findings are sent."""

    def __init__(
        self,
        detectors: Sequence[Detector],
        records: WorkerRecords,
        topic: str,
        routed_topic: str,
        partitions: int,
        every_s: float,
    ) -> None:
        self.router = Engine(detectors)  # routes; holds no state
        self.every_s = every_s
        self.read_at: dict[int, float] = {}
        self.records = records
        self.topic = topic
        self.routed_topic = routed_topic
        self.partitions = partitions
        self.sent: dict[int, int] = {}  # routed partition -> settled time, its findings sent
        self.reported: dict[int, int] = {}

    def outgoing(self, findings: Iterable[Finding]) -> list[Outgoing]:
        """The customers topic's messages of a batch's findings."""
        batch = RoutedBatch(routed_message_bytes(self.partitions))
        n = self.partitions
        for finding in findings:
            event = finding_event(finding)
            for partition, item in routed_items(event, self.router.routes(event), n):
                batch.add(partition, item)
        return [
            Outgoing(
                self.topic, None, value, partition,
                instead=self.records.routed_instead(value, partition, self.topic),
            )
            for partition, value in batch.drain()
        ]  # fmt: skip

    def settled(self, partition: int, engine: WorkerEngine) -> int | None:
        """Routed `partition`'s settled time as its engine stands, when a batch is finished
        (the next batch is handled while this one's findings are in flight), at most every
        `every_s` (reading it scans the engine's arrivals; a time read earlier is still true,
        only older); None between reads."""
        now = time.monotonic()
        if now - self.read_at.get(partition, -self.every_s) < self.every_s:
            return None
        self.read_at[partition] = now
        return engine.settled()

    def findings_sent(self, partition: int, settled: int | None) -> None:
        """Every finding routed `partition`'s engine had emitted when `settled` was read is in
        Kafka: record that settled time."""
        if settled is None:
            return
        if partition not in self.sent or settled > self.sent[partition]:
            self.sent[partition] = settled

    def revoke(self, partition: int) -> None:
        """The routed partition moved away: its new owner reports it."""
        self.sent.pop(partition, None)
        self.reported.pop(partition, None)
        self.read_at.pop(partition, None)

    def reports(self) -> list[tuple[int, bytes]]:
        """Progress reports for every customers partition, if a settled time moved since the
        last."""
        moved = {
            input_source(self.routed_topic, partition): watermark
            for partition, watermark in self.sent.items()
            if partition not in self.reported or watermark > self.reported[partition]
        }
        if not moved:
            return []
        self.reported.update(self.sent)
        value = encode_progress(moved)
        return [(partition, value) for partition in range(self.partitions)]
