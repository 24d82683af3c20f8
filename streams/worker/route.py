"""Stage 1: decode input, dead-letter what is bad, route each event to its detector keys.

A batch's routes travel grouped per routed partition (routing.py: one message, split so that
one per partition fits a 384 KiB produce request, down to 16 KiB a message) with the input
partitions' progress (progress.py), and its bad input as dead letters; the batch's input
messages are acknowledged once the broker has all of them (batching.py), so an input offset is
never committed ahead of what it routed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from friction_detector.detectors.events import BadInput, Event, EventDecoder
from friction_detector.detectors.observer import EngineObserver
from friction_detector.streams.dead_letter import PROCESSING_ERROR
from friction_detector.streams.event_batches import decode_message, element_position
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.sources import input_source
from friction_detector.streams.worker.delivery import Outgoing, deliver
from friction_detector.streams.worker.detection import Letter, detector_error
from friction_detector.streams.worker.progress import HeardProgress, InputProgress
from friction_detector.streams.worker.records import WorkerRecords, failure
from friction_detector.streams.worker.routing import (
    RoutedBatch,
    encode_progress,
    event_router,
    routed_message_bytes,
)

log = logging.getLogger(__name__)

Send = Callable[..., Awaitable[Any]]  # the producer's positional send
_NO_TIME = -(2**63)  # an input partition read in this batch with no event time (bad input)


class _RouterObserver(EngineObserver):
    """A detector whose key raised is counted, and the event goes to the dead letters
    (`letter`, sent with the batch's routed messages)."""

    def __init__(self, metrics: FrictionMetrics, letter: Letter) -> None:
        self.metrics = metrics
        self.letter = letter

    def on_detector_error(self, detector: str, event: Event | None, error: Exception) -> None:
        detector_error(self.metrics, self.letter, detector, event, error, "routing")


class RouteStage:
    """Stage 1's handling of one batch of input messages at a time: `handle` each input
    partition's records (a record whose handling raised goes to the dead letters, `failed`),
    then `publish` the batch."""

    def __init__(
        self,
        settings: WorkerSettings,
        decoder: EventDecoder,
        engine_config: Any,
        records: WorkerRecords,
        progress: InputProgress,
        metrics: FrictionMetrics,
    ) -> None:
        self.settings = settings
        self.decoder = decoder
        self.records = records
        self.progress = progress
        self.metrics = metrics
        # Dead letters of the current batch: bad input, and events a detector's key raised on.
        self.letters: list[Outgoing] = []
        self.route = event_router(
            engine_config,
            _RouterObserver(metrics, records.letter_to(self.letters)),
            settings.partitions,
        )
        self.routed = RoutedBatch(routed_message_bytes(settings.partitions))
        self.heard = HeardProgress(settings.partitions)
        self.accepted: dict[str, int] = {}  # the batch's events by type, counted at `publish`
        # The batch's input partitions, each with the newest event time read (`_NO_TIME`: bad
        # input only), told to `progress` at `publish`: once per partition, not per event.
        self.read: dict[str, int] = {}
        self._names: dict[tuple[str, int], str] = {}  # (topic, partition) -> its source name

    def handle(self, records: Sequence[Any]) -> None:
        """Decode the records of one input partition, in order (each one event or a batch of
        them), and queue their routes; a record whose handling raised goes to the dead letters
        (`failed`) and the rest go on. A record is aiokafka's (`topic`, `partition`,
        `offset`, `key`, `value`). What every record needs is looked up once per call: a
        batch has thousands of records, and stage 1 handles every event of the input."""
        if not records:
            return
        first = records[0]
        name = self._names.get((first.topic, first.partition))
        if name is None:
            name = self._names[(first.topic, first.partition)] = input_source(
                first.topic, first.partition
            )
        decode, queue, failed = self.decoder.decode, self._queue, self.failed
        observe, clock = self.metrics.processing.observe, time.perf_counter
        for record in records:
            started = clock()
            raw = record.value if record.value is not None else b""
            try:
                if raw[:1] == b"{":  # one event, as most topics carry (a batch is a JSON array)
                    queue(name, record, None, decode(raw))
                else:
                    for index, decoded in decode_message(self.decoder, raw):
                        queue(name, record, index, decoded)
            except Exception as error:  # the record's fault: a dead letter
                failed(record, error)
            observe(clock() - started)

    def _queue(self, name: str, source: Any, index: int | None, decoded: Event | BadInput) -> None:
        """Queue one decoded event's routes, or its dead letter; note how far `name` has read."""
        read = self.read
        if isinstance(decoded, BadInput):
            read.setdefault(name, _NO_TIME)
            self._letter(decoded, source, index)
            return
        try:  # all or nothing: an item that cannot be encoded fails the event
            items = self.route(decoded)
        except Exception as error:
            if index is None:
                raise  # the message's failure: `failed` dead-letters it
            bad = failure(PROCESSING_ERROR, error, orjson.dumps(decoded._asdict()))
            self._letter(bad, source, index)
            return
        accepted = self.accepted
        accepted[decoded.type] = accepted.get(decoded.type, 0) + 1
        add = self.routed.add
        for partition, item in items:
            add(partition, item)
        if decoded.time > read.get(name, _NO_TIME):
            read[name] = decoded.time

    def failed(self, record: Any, error: Exception) -> None:
        """Handling the record raised: it goes to the dead letters, the batch goes on."""
        raw = record.value if record.value is not None else b""
        log.warning(
            "input %s %s:%s: handling raised %r: dead-lettered",
            record.topic, record.partition, record.offset, error,
        )  # fmt: skip
        self._letter(failure(PROCESSING_ERROR, error, raw), record, None)

    async def publish(self, send: Send) -> None:
        """Send the batch's dead letters and routed messages and wait for the broker; only
        then is the batch's progress published.

        Routed partitions that got no items but whose slowest input partition the batch moves
        get its progress as a report in the same delivery (progress.py `HeardProgress`): their
        items of the events it covers are in earlier, delivered batches, and an engine waiting
        on an input partition read here releases its events now."""
        self.metrics.on_events(self.accepted)
        self.accepted = {}
        for name, time_ms in self.read.items():
            self.progress.saw(name, None if time_ms == _NO_TIME else time_ms)
        self.read.clear()
        outgoing = self.letters[:]
        self.letters.clear()
        topic = self.settings.routed_topic
        progress = self.progress.for_batch()
        messages = self.routed.drain(progress)
        sent = {partition for partition, _ in messages}
        for partition, value in messages:
            instead = self.records.routed_instead(value, partition)
            outgoing.append(Outgoing(topic, None, value, partition, instead=instead))
        waiting = self.heard.waiting(progress, sent)
        if waiting:
            report = encode_progress(progress)
            outgoing += [Outgoing(topic, None, report, partition) for partition in waiting]
        await deliver(send, outgoing)
        self.progress.batch_published()
        if progress:
            self.heard.told(sent.union(waiting), progress)

    def _letter(self, bad: BadInput, source: Any, index: int | None) -> None:
        position = element_position(f"{source.partition}:{source.offset}", index)
        self.letters.append(self.records.dead_letter(bad, source.topic, position, source.key))
