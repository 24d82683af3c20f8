"""The loop of the agents that keep detection state (stages 2 and 3): each message through its
partition's engine, in batches whose outputs and state go to Kafka before they are acknowledged.

A message's items are queued in their keys' records, then its progress moves the engine's
watermark (the slowest input partition's event time, minus the allowed lateness). A batch's
findings (and the events detectors raised on, as dead letters) are sent and awaited first; only
then is state written to the table, and so to its changelog partitions: every partition changed
since the last write, once per commit interval and whenever the app finishes a batch because
the agent waits for input or before a revoke or a stop (state_writes.py). The batch's messages
are acknowledged after that, so a committed offset always has its findings in Kafka, and a
crash in between replays the messages and sends the same findings again (same `finding_id`):
against the old state, or, where a RocksDB store already holds the new one, against that
state, whose seen event ids make the replayed events duplicates. The batch is pipelined
(batching.py): `publish` takes its outputs, state changes and settled times at once, and they
are delivered while the next batch is handled.

A message with items is held (held_messages.py), its partition committed only up to it, until
its items are applied and the state that applied them is in Kafka: the state written leaves out
the events still waiting for the watermark, and may be written batches later than they were
applied. A restart reads it again from there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable
from typing import Any

from friction_detector.detectors.engine import read_routed_message
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.outcomes import Outcome
from friction_detector.streams.dead_letter import PROCESSING_ERROR
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.webhook.sink import WebhookSink
from friction_detector.streams.worker.batching import EventBatch
from friction_detector.streams.worker.customers import CustomerFindings
from friction_detector.streams.worker.delivery import Outgoing, deliver
from friction_detector.streams.worker.detection import DetectionPartition, DetectionPartitions
from friction_detector.streams.worker.faust_app import FrictionFaustApp
from friction_detector.streams.worker.held_messages import HeldMessages
from friction_detector.streams.worker.records import WorkerRecords, failure
from friction_detector.streams.worker.state_writes import StateWrites

log = logging.getLogger(__name__)


class EngineAgent:
    """One agent's batches over its partitions' engines (`detect` or `accumulate`)."""

    def __init__(
        self,
        app: FrictionFaustApp,
        name: str,
        topic: str,
        detection: DetectionPartitions,
        letters: list[Outgoing],
        customers: CustomerFindings | None,
        records: WorkerRecords,
        metrics: FrictionMetrics,
        webhook: WebhookSink | None,
        state_interval_s: float,
    ) -> None:
        """`letters` collects the dead letters of the batch in hand (events detectors raised
        on); `customers`, for stage 2 with detectors over findings, takes its findings;
        `state_interval_s` is how often state is written under load (the commit interval)."""
        self.app = app
        self.name = name
        self.topic = topic
        self.detection = detection
        self.letters = letters
        self.customers = customers
        self.records = records
        self.observe = metrics.processing.observe
        self.held_messages = metrics.held_messages
        self.webhook = webhook
        self.found: list[Finding] = []
        self.outcomes: list[Outcome] = []
        # The batch's messages with items, per partition: (offset, latest item time).
        self.taken: dict[int, list[tuple[int, int]]] = {}
        self.state_writes: StateWrites[DetectionPartition] = StateWrites(state_interval_s)
        self.batch: EventBatch | None = None

    async def run(self, stream: Any) -> None:
        """Handle the agent's stream until it ends; each batch is acknowledged by `batching`."""
        stream = stream.noack()
        self.batch = batch = self.app.event_batch(
            self.name, stream, self.publish, self.failed,
            pipelined=True, unfinished=self.state_writes.__bool__,
        )  # fmt: skip
        detect = self.detect
        async for message in stream.events():
            await batch.handle(message, detect)

    def detect(self, message: Any) -> None:
        """Queue the message's items in its partition's engine and move its watermark."""
        started = time.perf_counter()
        source = message.message
        engine = self.detection.get(source.partition).engine
        # Items of detectors a configuration change disabled are skipped; a message not as
        # stage 1 writes them raises before any item is taken.
        try:
            latest, progress = engine.take_message(message.value)
        except Exception:
            self._hold_if_taken(source, message.value)
            raise
        if latest is not None:  # its items wait in the engine: held until they are applied
            self._taken(source, latest)
        if progress:
            self.found.extend(engine.advance_sources(progress))
        # A late event is applied at once: its findings go out with this batch, before the
        # state that has seen it is written, whether or not progress came along.
        self.found.extend(engine.take_findings())
        self.outcomes.extend(engine.take_outcomes())
        self.observe(time.perf_counter() - started)

    def _hold_if_taken(self, source: Any, raw: bytes) -> None:
        """Taking a message raised after reading it (a hook or a late event's detector raised
        beyond what the engine catches): items before the error may wait in the engine, so the
        message is held as far as its items reach, as if all were taken. One the engine could
        not read took none."""
        try:
            items, _ = read_routed_message(raw)
        except ValueError:
            return
        if items:
            self._taken(source, max(item[2] for item in items))

    def _taken(self, source: Any, latest: int) -> None:
        """The message's items, up to `latest`, wait in its partition's engine: `publish`
        holds it until they are applied (`_hold`)."""
        self.taken.setdefault(source.partition, []).append((source.offset, latest))

    def failed(self, message: Any, error: Exception) -> None:
        """Handling the message raised: it goes to the dead letters, the batch goes on."""
        source = message.message
        position = f"{source.partition}:{source.offset}"
        log.warning("%s %s: handling raised %r: dead-lettered", self.topic, position, error)
        bad = failure(PROCESSING_ERROR, error, message.value or b"")
        self.letters.append(self.records.dead_letter(bad, self.topic, position))

    def publish(self, events: list) -> Awaitable[None]:
        """Take the batch's outputs and state changes now; the result delivers them."""
        found, outcomes, letters = self.found, self.outcomes, self.letters
        outgoing = [self.records.finding(finding) for finding in found]
        published = found[:]
        found.clear()
        outgoing += [self.records.finding(outcome) for outcome in outcomes]
        decided = outcomes[:]
        outcomes.clear()
        outgoing += letters
        letters.clear()
        customers = self.customers
        if customers is not None and published:
            outgoing += customers.outgoing(published)
        settled = []
        taken, self.taken = self.taken, {}
        writes = self.state_writes
        handled: dict[int, list[int]] = {}
        for event in events:
            handled.setdefault(event.message.partition, []).append(event.message.offset)
        for partition, offsets in handled.items():
            owned = self.detection.find(partition)
            if owned is None:  # Faust revokes only after acknowledgements: a bug if seen
                raise RuntimeError(f"{self.topic} partition {partition} revoked inside a batch")
            applied = self._hold(owned, taken.get(partition, ()))
            # Every other message of the batch (a progress report moves the watermark) is
            # held too: no offset is committed before the state as of it is in Kafka.
            applied += owned.held.hold_applied(offsets)
            writes.changed(owned, applied)
            if customers is not None:  # as of this batch: the next one is handled meanwhile
                settled.append((partition, customers.settled(partition, owned.engine)))
        sealed, released = self._state_due()
        return self._deliver(outgoing, published, decided, sealed, settled, released)

    def _state_due(self) -> tuple[list, list[tuple[int, HeldMessages, list[int]]]]:
        """The state changes to write with this batch, if a write is due (state_writes.py):
        each changed partition's sealed changes, and the held messages each write releases."""
        sealed, released = [], []
        writes = self.state_writes
        if writes.due(self.batch is None or self.batch.finishing_held):
            for owned, applied in writes.take():
                if self.detection.find(owned.partition) is not owned:
                    continue  # revoked since: its state and held messages went with it
                owned.engine.write_changes()  # the compiled core's, once per write
                sealed.append((owned.store, owned.store.seal()))
                released.append((owned.partition, owned.held, applied))
        return sealed, released

    def _hold(self, owned: DetectionPartition, taken: Iterable[tuple[int, int]]) -> list[int]:
        """Hold the batch's messages of the partition that have items; return the held ones
        the partition's next state write releases: those whose items are applied, or all of
        them if one waited too long (their waiting events are then kept in the records)."""
        held, engine = owned.held, owned.engine
        settled = engine.settled()
        releasing = held.settle(taken, settled)
        until = held.overdue(settled)
        if until is not None:
            kept = engine.keep_waiting(until)
            releasing += held.keep_all()
            log.warning(
                "%s partition %d: a message's items waited too long for the watermark (%.0f s,"
                " or %d s of event time): %d waiting events up to %d are written to the"
                " changelog, so that its commit goes on", self.topic, owned.partition,
                held.max_hold_s, held.max_span_ms // 1000, kept, until,
            )  # fmt: skip
        return releasing

    async def _deliver(
        self,
        outgoing: list,
        published: list,
        decided: list,
        sealed: list,
        settled: list,
        released: list[tuple[int, HeldMessages, list[int]]],
    ) -> None:
        """Findings, outcomes and dead letters into Kafka, then the state written with this batch
        (if it writes any: state_writes.py), then the held messages that state releases."""
        producer = self.app.producer
        await deliver(producer.send, outgoing)
        if self.webhook is not None:  # in Kafka now: queued for the webhook, never awaited
            self.webhook.findings(published)
            self.webhook.outcomes(decided)
        if self.customers is not None:  # this batch's findings, and all before, are in Kafka
            for partition, time_ms in settled:
                self.customers.findings_sent(partition, time_ms)
        stores, deliveries = [], []
        for store, changes in sealed:
            written = await store.write(changes, producer)
            stores.append(store)
            deliveries.append(asyncio.gather(*written))
        for store, delivered in zip(stores, await asyncio.gather(*deliveries), strict=True):
            if delivered:  # a batch sent again smaller lands after the later ones
                store.persisted(max(delivered))
        for partition, held, offsets in released:  # applied, that state in Kafka: committable
            held.release(offsets)
            self.held_messages.labels(self.topic, str(partition)).set(len(held))
