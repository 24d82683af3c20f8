"""The Faust app: two thin agents around the detection core, state in a changelogged table.

Stage 1 (`route`) reads the input topics in batches, decodes, dead-letters bad input and sends,
per batch, one message per routed partition to the internal routed topic, holding the batch's
(detector, key) items whose state key belongs to that partition. Stage 2 (`detect`) reads the
routed topic in batches with one `Engine` per partition, whose store is the partition's slice
of a Faust table. Everything an engine touches while handling a message of partition P is a key
of P, and its changes are written to changelog partition P, so a restart or rebalance recovers
exactly that partition's state. docs/worker.md ("Delivery guarantees") says what each batch
waits for before it is acknowledged, and why. When a partition has been quiet for
`idle_advance_s`, a timer sends it a tick; handling the tick moves that engine's watermark to
the wall clock minus the allowed lateness, so deadlines fire at night too.

Alerting (`alert`): each engine also counts its findings and measurements in a rollup; a
timer sends the rollups to a one-partition topic, whose owner merges them into the alert
engine (see streams/alerting.py) and publishes alerts to the alerts topic and Alertmanager.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Iterator, MutableMapping
from pathlib import Path

import faust
import faust.streams as faust_streams
import orjson

from detectors.config import Config
from detectors.engine import Engine, store_key
from detectors.events import BadInput, Event
from detectors.observer import EngineObserver, FanOut
from streams.alerting import WorkerAlerting
from streams.alertmanager import AlertmanagerClient
from streams.dead_letter import dead_letter_record, detector_error_input
from streams.kafka_sensor import KafkaClientSensor
from streams.metrics import FrictionMetrics
from streams.settings import WorkerSettings
from streams.topics import partition_for

log = logging.getLogger(__name__)

STATE_TABLE = "engine-state"
# Both detection agents take messages in batches of at most BATCH_MAX, or what arrived within
# BATCH_WITHIN_S: per-message sends and acknowledgements cost more than detection itself.
BATCH_MAX = 1000
BATCH_WITHIN_S = 0.05
# A routed message carries a batch's items for one partition, split at about this size
# (Kafka's default maximum message size is 1 MiB).
ROUTED_MESSAGE_BYTES = 256 * 1024
# Many small messages: let the producer batch them (Faust's default, 0 ms and 16 KiB, sends a
# request per message or two). A few ms is nothing next to the latency goal.
PRODUCER_LINGER_S = 0.005
PRODUCER_MAX_BATCH_BYTES = 512 * 1024
ALERT_TABLE = "alert-state"
ALERT_SNAPSHOT_KEY = "engine"
ROLLUP_INTERVAL_S = 1.0


def _set_current_event(event) -> None:
    """Make `event` Faust's current event in this task (None clears it).

    A RocksDB store writes a key to the database of the current event's partition;
    `Stream.take_events` fills its batch in another task, so the agent names the event itself.
    """
    faust_streams._current_event.set(None if event is None else weakref.ref(event))


def _never_commit(app: faust.App, events) -> None:
    """Keep these events' offsets out of every commit: mark their messages acknowledged.

    `take_events` acknowledges every event of a batch when the agent asks for the next one,
    and after a rebalance the consumer accepts an acknowledgement of any offset of a partition
    it has been (re)assigned, even one far ahead of what it has redelivered and processed
    since, and commits up to it. An event that was not fully handled in the current
    generation must not be acknowledged, or a crash would skip what lies before it.
    """
    unacked = app.consumer._unacked_messages
    for event in events:
        message = event.message
        message.acked = True
        unacked.discard(message)


# -- the routed message ---------------------------------------------------------------------


def encode_route(detector: str, key: str, event: Event) -> bytes:
    """One event for one detector key: a JSON array, an item of a routed message."""
    return orjson.dumps(
        [detector, key, event.time, event.event_id, event.type, event.user_id,
         event.session_id, event.attrs]
    )  # fmt: skip


def encode_routed(items: list[bytes]) -> bytes:
    """A routed message: a JSON array of `encode_route` items, in order; never a tick."""
    return b"[" + b",".join(items) + b"]"


def encode_tick(now_ms: int) -> bytes:
    return orjson.dumps({"tick": now_ms})


def decode_routed(raw: bytes) -> list[tuple[str, str, Event]] | int:
    """The (detector, key, event) items of a routed message, or the wall-clock time of a tick.

    A one-item message of an older worker (a bare item, not a list of them) is read too, so an
    upgrade does not stumble on what is still in the routed topic.
    """
    doc = orjson.loads(raw)
    if type(doc) is dict:
        return int(doc["tick"])
    if doc and type(doc[0]) is str:
        doc = [doc]
    return [
        (detector, key, Event(event_id, event_type, time_ms, user_id, session_id, attrs))
        for detector, key, time_ms, event_id, event_type, user_id, session_id, attrs in doc
    ]


# -- state ----------------------------------------------------------------------------------

_DELETED = object()


class PartitionStore(MutableMapping):
    """One routed partition's slice of the state table, as the engine's store.

    Writes wait in `pending` until `flush`, which the agent calls once the message's findings
    are acknowledged: a crash in between replays the message against the old state and sends
    the findings again (same ids), never records state whose findings were lost.
    """

    def __init__(self, table: faust.Table, partition: int, partitions: int) -> None:
        self.table = table
        self.partition = partition
        self.partitions = partitions
        self.pending: dict[str, object] = {}

    def owns(self, skey: str) -> bool:
        return partition_for(skey.encode(), self.partitions) == self.partition

    def __getitem__(self, skey: str) -> dict:
        value = self.pending.get(skey)
        if value is None:
            return self.table[skey]
        if value is _DELETED:
            raise KeyError(skey)
        return value

    def get(self, skey: str, default=None):
        value = self.pending.get(skey)
        if value is None:
            return self.table.get(skey, default)
        return default if value is _DELETED else value

    def __setitem__(self, skey: str, record: dict) -> None:
        self.pending[skey] = record

    def __delitem__(self, skey: str) -> None:
        if self.get(skey) is None:
            raise KeyError(skey)
        self.pending[skey] = _DELETED

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for skey in list(self.table.keys()):
            if self.owns(skey):
                seen.add(skey)
                if self.pending.get(skey) is not _DELETED:
                    yield skey
        for skey, value in list(self.pending.items()):
            if skey not in seen and value is not _DELETED:
                yield skey

    def __len__(self) -> int:
        return sum(1 for _ in self)

    async def flush(self, send) -> list:
        """Write pending changes to the table and its changelog partition; return the sends.

        `send` is the Faust producer's `send`; the caller awaits the returned delivery futures
        before it lets the messages that made these changes be acknowledged. The record goes
        to this routed partition's changelog partition, serialized as Faust's own table writes
        are, and the value to the store directly: what `table[key] = value` does, minus its
        per-key buffering (Faust's `send_soon` buffer, which its commit does not wait for to
        the end). With RocksDB, run it with one of the partition's events current.
        """
        table = self.table
        data = table.data
        changelog = table.changelog_topic
        topic = changelog.get_topic_name()
        key_serializer, value_serializer = table.key_serializer, table.value_serializer
        prepare_key, prepare_value = changelog.prepare_key, changelog.prepare_value
        partition = self.partition
        pending = list(self.pending.items())
        self.pending.clear()
        sent = []
        for skey, value in pending:
            key, _ = prepare_key(skey, key_serializer)
            if value is _DELETED:
                if skey in data:
                    sent.append(await send(topic, key, None, partition, None, None))
                    del data[skey]
            else:
                payload, _ = prepare_value(value, value_serializer)
                sent.append(await send(topic, key, payload, partition, None, None))
                data[skey] = value
        return sent


class _PartitionObserver(EngineObserver):
    """Forwards an engine's hooks to the metrics, summing state sizes over partitions.

    An event a detector raised on is kept in `letters` for the dead-letter topic, which the
    detect agent sends with the batch's findings.
    """

    def __init__(
        self, metrics: FrictionMetrics, sizes: dict, partition: int, letters: list[bytes]
    ) -> None:
        self.metrics = metrics
        self.sizes = sizes
        self.partition = partition
        self.letters = letters

    def on_late(self, event: Event, watermark: int) -> None:
        self.metrics.on_late(event, watermark)

    def on_duplicate(self, detector: str, event: Event) -> None:
        self.metrics.on_duplicate(detector, event)

    def on_finding(self, finding) -> None:
        self.metrics.on_finding(finding)

    def on_measurement(
        self, detector: str, measurement: str, seconds: float, segment: str, time_ms: int
    ) -> None:
        self.metrics.on_measurement(detector, measurement, seconds, segment, time_ms)

    def on_state_size(self, detector: str, keys: int) -> None:
        per_partition = self.sizes.setdefault(detector, {})
        per_partition[self.partition] = keys
        self.metrics.on_state_size(detector, sum(per_partition.values()))

    def on_watermark(self, watermark: int) -> None:
        self.metrics.on_watermark(watermark)

    def on_detector_error(self, detector: str, event: Event | None, error: Exception) -> None:
        self.metrics.on_detector_error(detector, event, error)
        where = f"event {event.event_id}" if event is not None else "a deadline"
        log.warning("detector %s raised on %s: %r", detector, where, error)
        if event is not None:
            bad = detector_error_input(detector, event, error)
            source = f"detection partition {self.partition}"
            self.letters.append(dead_letter_record(bad, source=source, position=event.event_id))


# -- the app --------------------------------------------------------------------------------


class FrictionApp:
    """Builds the Faust app and holds what its agents share: engines, metrics, clocks."""

    def __init__(self, settings: WorkerSettings, config: Config, metrics: FrictionMetrics) -> None:
        self.settings = settings
        self.config = config
        self.metrics = metrics
        self.decoder = config.decoder()
        self.router = Engine(config.detectors)  # routes only; holds no state
        self.engines: dict[int, Engine] = {}
        self.stores: dict[int, PartitionStore] = {}
        self.state_sizes: dict[str, dict[int, int]] = {}
        self.detector_letters: list[bytes] = []  # events detectors raised on, for dead letters
        # Monotonic time stage 1 last saw input; starting counts as input, so that a worker
        # that restarts with a backlog reads it before any tick moves event time on.
        self.last_input = time.monotonic()
        self.last_routed: dict[int, float] = {}  # per routed partition, excluding ticks
        self.alerting = WorkerAlerting(config, metrics, settings.partitions)
        self.alertmanager = (
            AlertmanagerClient(settings.alertmanager_url, settings.alert_resend_s)
            if settings.alertmanager_url
            else None
        )
        self.app = self._build()

    def _build(self) -> faust.App:
        s = self.settings
        store = s.store
        options: dict = {}
        if store.startswith("rocksdb://"):
            options["rocksdb_options"] = {"block_cache_size": s.rocksdb_block_cache_mb << 20}
        datadir = Path(s.data_dir) / s.app_id
        datadir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
        app = faust.App(
            s.app_id,
            datadir=str(datadir),
            broker=s.broker,
            broker_credentials=s.faust_credentials(),
            store=store,
            topic_partitions=s.partitions,
            web_enabled=False,
            consumer_auto_offset_reset="earliest",
            table_standby_replicas=0,
            producer_acks=-1,
            producer_linger=PRODUCER_LINGER_S,
            producer_max_batch_size=PRODUCER_MAX_BATCH_BYTES,
            **options,
        )
        raw = {"key_serializer": "raw", "value_serializer": "raw"}
        self.input = app.topic(*s.input_topics, **raw)
        self.routed = app.topic(s.routed_topic, partitions=s.partitions, internal=True, **raw)
        self.findings = app.topic(s.findings_topic, **raw)
        self.dead_letters = app.topic(s.dead_letter_topic, **raw)
        self.table = app.Table(STATE_TABLE, partitions=s.partitions, key_type=str, value_type=None)
        self.alerts = app.topic(s.alerts_topic, **raw)
        self.rollups = app.topic(s.rollups_topic, partitions=1, internal=True, **raw)
        self.alert_table = app.Table(ALERT_TABLE, partitions=1, key_type=str, value_type=None)
        app.agent(self.input, name="route", concurrency=1)(self._route)
        app.agent(self.routed, name="detect", concurrency=1)(self._detect)
        app.timer(s.tick_interval_s, name="tick")(self._tick)
        app.agent(self.rollups, name="alert", concurrency=1)(self._alert)
        app.timer(ROLLUP_INTERVAL_S, name="rollup")(self._send_rollups)
        if self.alertmanager is not None:
            app.timer(min(15.0, s.alert_resend_s / 2), name="alert-resend")(self._resend)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_rebalance_complete.connect(self._on_rebalance_complete)
        app.sensors.add(KafkaClientSensor(app, self.metrics))
        return app

    # -- stage 1 ------------------------------------------------------------------------

    async def _route(self, stream) -> None:
        """Decode and route input in batches: one routed message per routed partition.

        A batch's routes are grouped by the partition of their state key, in input order, and
        each group is sent as one routed message (split when large), so stage 2 pays Faust's
        per-message cost once per group. The batch's sends (routed messages and dead letters)
        are awaited until the broker has them before the batch's input messages are
        acknowledged: an input offset is never committed ahead of what it routed, whatever
        Faust's commit flushes. Messages fetched before a rebalance are left alone (see
        `_current_batch`).
        """
        decode = self.decoder.decode
        metrics = self.metrics
        observe = metrics.processing.observe
        routes = self.router.routes
        n = self.settings.partitions
        routed_topic = self.settings.routed_topic
        dead_topic = self.settings.dead_letter_topic
        perf = time.perf_counter
        async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            batch = self._current_batch(batch)
            if not batch:
                continue
            generation = self.app.consumer_generation_id
            self.last_input = time.monotonic()
            send = self.app.producer.send
            sent = []
            groups: dict[int, list[bytes]] = {}
            sizes: dict[int, int] = {}
            for message in batch:
                started = perf()
                raw = message.value if message.value is not None else b""
                decoded = decode(raw)
                if type(decoded) is BadInput:
                    source = message.message
                    metrics.on_bad_input(decoded.reason)
                    record = dead_letter_record(
                        decoded, source=source.topic, position=f"{source.partition}:{source.offset}"
                    )
                    sent.append(await send(dead_topic, source.key, record, None, None, None))
                    continue
                metrics.on_event(decoded)
                for detector, key in routes(decoded):
                    skey = store_key(detector.name, key).encode()
                    partition = partition_for(skey, n)
                    item = encode_route(detector.name, key, decoded)
                    group = groups.get(partition)
                    if group is None:
                        group = groups[partition] = []
                        sizes[partition] = 0
                    elif sizes[partition] + len(item) > ROUTED_MESSAGE_BYTES:
                        value = encode_routed(group)
                        sent.append(await send(routed_topic, None, value, partition, None, None))
                        group = groups[partition] = []
                        sizes[partition] = 0
                    group.append(item)
                    sizes[partition] += len(item) + 1
                observe(perf() - started)
            for partition, group in groups.items():
                value = encode_routed(group)
                sent.append(await send(routed_topic, None, value, partition, None, None))
            if sent:
                await asyncio.gather(*sent)
            if self.app.consumer_generation_id != generation:
                _never_commit(self.app, batch)  # a rebalance meanwhile: redelivered anyway

    def _current_batch(self, batch: list) -> list:
        """The events of a batch fetched in the current generation from assigned partitions.

        `take_events` holds events fetched before a rebalance and hands them over after it;
        Faust's own per-message loop skips such events. Processing them would rebuild a
        revoked partition's engine, or write its state, behind the new owner's back. They are
        dropped and never committed (the partition's owner reads them again from its committed
        offset).
        """
        app = self.app
        generation = app.consumer_generation_id
        assignment = app.consumer.assignment()
        current = []
        stale = []
        for event in batch:
            message = event.message
            if message.generation_id == generation and message.tp in assignment:
                current.append(event)
            else:
                stale.append(event)
        if stale:
            _never_commit(app, stale)
        return current

    # -- stage 2 ------------------------------------------------------------------------

    def engine_for(self, partition: int) -> Engine:
        """The partition's engine, created and restored from the table on first use."""
        engine = self.engines.get(partition)
        if engine is None:
            settings = self.config.engine
            store = PartitionStore(self.table, partition, self.settings.partitions)
            engine = Engine(
                self.config.detectors,
                allowed_lateness_ms=settings.allowed_lateness_ms,
                dedup_horizon_ms=settings.dedup_horizon_ms,
                store=store,
                observer=FanOut(
                    _PartitionObserver(
                        self.metrics, self.state_sizes, partition, self.detector_letters
                    ),
                    self.alerting.rollup_for(partition),
                ),
            )
            engine.restore()
            self.engines[partition] = engine
            self.stores[partition] = store
        return engine

    async def _detect(self, stream) -> None:
        """Run a batch of routed messages, publish its findings, then write its state.

        Every message of the batch runs against its partition's engine, with no await in
        between; the engines' writes wait in their `PartitionStore`s. The batch's findings are
        then sent and awaited until the broker has them; only then is each touched partition's
        state written to the table and its changelog partition, and those writes are awaited
        too. The batch's messages are acknowledged after this body returns, so a committed
        routed offset always has its findings and its state in Kafka. A rebalance during the
        awaits leaves the state of the revoked engines unwritten and the batch uncommitted:
        the partition's owner replays it against the state in the changelog.
        """
        lateness = self.config.engine.allowed_lateness_ms
        findings_topic = self.settings.findings_topic
        dead_letters = self.settings.dead_letter_topic
        observe = self.metrics.processing.observe
        perf = time.perf_counter
        async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            batch = self._current_batch(batch)
            if not batch:
                continue
            generation = self.app.consumer_generation_id
            send = self.app.producer.send
            found = []
            touched: dict[int, tuple[PartitionStore, object]] = {}
            now = time.monotonic()
            for message in batch:
                started = perf()
                partition = message.message.partition
                engine = self.engine_for(partition)
                touched[partition] = (self.stores[partition], message)
                routed = decode_routed(message.value)
                if type(routed) is int:
                    found += engine.advance(routed - lateness)
                else:
                    self.last_routed[partition] = now
                    detectors = engine.detectors
                    for name, key, event in routed:
                        detector = detectors.get(name)
                        if detector is None:  # routed before a configuration change disabled it
                            continue
                        found += engine.process_routed(event, ((detector, key),))
                observe(perf() - started)
            sent = [
                await send(findings_topic, f.finding_id.encode(), f.to_json(), None, None, None)
                for f in found
            ]
            letters = self.detector_letters
            sent += [await send(dead_letters, None, letter, None, None, None) for letter in letters]
            letters.clear()
            if sent:
                await asyncio.gather(*sent)
            written = []
            for partition, (store, message) in touched.items():
                if self.stores.get(partition) is not store:
                    continue  # revoked meanwhile: its owner replays these messages
                _set_current_event(message)  # the partition a RocksDB store writes to
                try:
                    written += await store.flush(send)
                finally:
                    _set_current_event(None)
            if written:
                await asyncio.gather(*written)
            if self.app.consumer_generation_id != generation:
                _never_commit(self.app, batch)

    async def _tick(self) -> None:
        """Advance quiet partitions by the wall clock, through the partition itself."""
        now = time.monotonic()
        idle = self.settings.idle_advance_s
        if now - self.last_input < idle:
            return  # input is flowing: event time moves with it (or catches up)
        assignment = self.app.consumer.assignment() if self.app.consumer else set()
        tick = encode_tick(int(time.time() * 1000))
        for tp in assignment:
            if tp.topic != self.routed.get_topic_name():
                continue
            if now - self.last_routed.get(tp.partition, 0.0) >= idle:
                await self.routed.send(value=tick, partition=tp.partition)

    # -- alerting -----------------------------------------------------------------------

    async def _send_rollups(self) -> None:
        """Each partition's counts since the last send, with its watermark."""
        for message in self.alerting.drain():
            await self.rollups.send(value=message, partition=0)

    async def _alert(self, stream) -> None:
        loop = asyncio.get_running_loop()
        async for message in stream.events():
            if not self.alerting.restored:
                self.alerting.restore(self.alert_table.get(ALERT_SNAPSHOT_KEY))
                if self.alertmanager is not None:
                    await loop.run_in_executor(
                        None, self.alertmanager.publish, self.alerting.engine.firing()
                    )
            alerts = self.alerting.merge(message.value)
            for alert in alerts:
                await self.alerts.send(key=alert.alert_id.encode(), value=alert.to_json())
            if alerts and self.alertmanager is not None:
                await loop.run_in_executor(None, self.alertmanager.publish, alerts)
            self.alert_table[ALERT_SNAPSHOT_KEY] = self.alerting.snapshot()

    async def _resend(self) -> None:
        """Alertmanager forgets an alert not re-sent within its resolve timeout."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.alertmanager.resend_due)

    async def _on_rebalance_complete(self, app, **kwargs) -> None:
        """Resuming after a rebalance counts as input, as starting does.

        A worker may wait long to join its group (a killed predecessor holds its partitions
        until its session times out) and to recover its tables. Without this, the first tick
        after that wait would move event time to the clock before stage 1 has read the input
        backlog, and the backlog would arrive late.
        """
        self.last_input = time.monotonic()

    async def _on_revoked(self, app, revoked, **kwargs) -> None:
        """A partition that moves away takes its state along: drop its engine."""
        for tp in revoked:
            if tp.topic == self.settings.rollups_topic:
                self.alerting.restored = False  # the next owner resumes from the snapshot
            if tp.topic == self.settings.routed_topic:
                self.alerting.forget(tp.partition)
                self.engines.pop(tp.partition, None)
                self.stores.pop(tp.partition, None)
                self.last_routed.pop(tp.partition, None)
