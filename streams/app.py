"""The Faust app: two thin agents around the detection core, state in a changelogged table.

Both agents work in batches (streams/batching.py): events are handled one by one and
acknowledged once what a batch produced is in Kafka. Stage 1 (`route`) reads the input topics,
decodes, dead-letters bad input and sends each (detector, key) item to the internal routed
topic, on the partition of that state key, grouped into one message per partition and batch
(streams/routing.py). Stage 2 (`detect`) reads the routed topic with one `Engine` per partition,
whose store is the partition's slice of a Faust table (streams/partition_store.py). Everything
an engine touches while handling a message of partition P is a key of P, and the worker writes
the partition's changes to changelog partition P, so a restart or rebalance recovers exactly
that partition's state. When a partition has been quiet for `idle_advance_s`, and the group has
read all its input (streams/backlog.py), a timer sends it a tick; handling the tick moves that
engine's watermark to the wall clock minus the allowed lateness, so deadlines fire at night too.

Alerting (`alert`): each engine also counts its findings and measurements in a rollup; a
timer sends the rollups to a one-partition topic, whose owner merges them into the alert
engine (see streams/alerting.py) and publishes alerts to the alerts topic and Alertmanager.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import faust
from kafka.errors import KafkaError

from detectors.config import Config
from detectors.engine import Engine, store_key
from detectors.events import BadInput, Event
from detectors.observer import EngineObserver, FanOut
from streams.alerting import WorkerAlerting
from streams.alertmanager import AlertmanagerClient
from streams.backlog import InputBacklog
from streams.dead_letter import dead_letter_record, detector_error_input
from streams.faust_app import FrictionFaustApp, current_event
from streams.kafka_sensor import KafkaClientSensor
from streams.metrics import FrictionMetrics
from streams.partition_store import PartitionStore
from streams.routing import RoutedBatch, decode_routed, encode_tick
from streams.settings import WorkerSettings
from streams.topics import partition_for

log = logging.getLogger(__name__)

STATE_TABLE = "engine-state"
ALERT_TABLE = "alert-state"
ALERT_SNAPSHOT_KEY = "engine"
ROLLUP_INTERVAL_S = 1.0


# -- state ----------------------------------------------------------------------------------


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
        letter = _detector_error(
            self.metrics, detector, event, error, f"detection partition {self.partition}"
        )
        if letter is not None:
            self.letters.append(letter)


class _RouterObserver(EngineObserver):
    """Stage 1's routing engine: a detector whose key raised is counted, and the event goes to
    the dead letters (`letters`, sent with the batch's routed messages)."""

    def __init__(self, metrics: FrictionMetrics, letters: list[tuple[bytes | None, bytes]]):
        self.metrics = metrics
        self.letters = letters

    def on_detector_error(self, detector: str, event: Event | None, error: Exception) -> None:
        letter = _detector_error(self.metrics, detector, event, error, "routing")
        if letter is not None:
            self.letters.append((None, letter))


def _detector_error(
    metrics: FrictionMetrics, detector: str, event: Event | None, error: Exception, source: str
) -> bytes | None:
    """Count and log a detector's error; the dead letter of the event it raised on, if any."""
    metrics.on_detector_error(detector, event, error)
    where = f"event {event.event_id}" if event is not None else "a deadline"
    log.warning("detector %s raised on %s: %r", detector, where, error)
    if event is None:
        return None
    bad = detector_error_input(detector, event, error)
    return dead_letter_record(bad, source=source, position=event.event_id)


# -- the app --------------------------------------------------------------------------------


class FrictionApp:
    """Builds the Faust app and holds what its agents share: engines, metrics, clocks."""

    def __init__(self, settings: WorkerSettings, config: Config, metrics: FrictionMetrics) -> None:
        self.settings = settings
        self.config = config
        self.metrics = metrics
        self.decoder = config.decoder()
        # Dead letters of stage 1's current batch: bad input, and events a detector's key raised on.
        self.route_letters: list[tuple[bytes | None, bytes]] = []
        router_observer = _RouterObserver(metrics, self.route_letters)
        self.router = Engine(config.detectors, observer=router_observer)  # routes; holds no state
        self.engines: dict[int, Engine] = {}
        self.stores: dict[int, PartitionStore] = {}
        self.state_sizes: dict[str, dict[int, int]] = {}
        self.detector_letters: list[bytes] = []  # events detectors raised on, for dead letters
        # Monotonic time stage 1 last saw input; starting counts as input, so that a worker
        # that restarts with a backlog reads it before any tick moves event time on.
        self.last_input = time.monotonic()
        self.last_routed: dict[int, float] = {}  # per routed partition, excluding ticks
        self.input_backlog = InputBacklog(settings, settings.app_id, settings.input_topics)
        self.ticks_held = False  # whether the last tick waited for unread input (logged once)
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
        app = FrictionFaustApp(
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
            **options,
        )
        raw = {"key_serializer": "raw", "value_serializer": "raw"}
        self.input = app.topic(*s.input_topics, **raw)
        self.routed = app.topic(s.routed_topic, partitions=s.partitions, internal=True, **raw)
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
        app.on_before_shutdown.connect(self._on_shutdown)
        app.sensors.add(KafkaClientSensor(app, self.metrics))
        return app

    # -- stage 1 ------------------------------------------------------------------------

    async def _route(self, stream) -> None:
        """Decode and route input in batches (streams/batching.py).

        A batch's routes travel as one routed message per routed partition (streams/routing.py)
        and its bad input as dead letters; the batch's input messages are acknowledged once the
        broker has all of them, so an input offset is never committed ahead of what it routed.
        """
        decode = self.decoder.decode
        metrics = self.metrics
        observe = metrics.processing.observe
        routes = self.router.routes
        n = self.settings.partitions
        routed_topic = self.settings.routed_topic
        dead_topic = self.settings.dead_letter_topic
        perf = time.perf_counter
        routed = RoutedBatch()
        letters = self.route_letters

        def route(message) -> None:
            started = perf()
            self.last_input = time.monotonic()
            raw = message.value if message.value is not None else b""
            decoded = decode(raw)
            if type(decoded) is BadInput:
                source = message.message
                metrics.on_bad_input(decoded.reason)
                position = f"{source.partition}:{source.offset}"
                record = dead_letter_record(decoded, source=source.topic, position=position)
                letters.append((source.key, record))
            else:
                metrics.on_event(decoded)
                for detector, key in routes(decoded):
                    name = detector.name
                    routed.add(partition_for(store_key(name, key).encode(), n), name, key, decoded)
            observe(perf() - started)

        async def publish(events: list) -> None:
            send = self.app.producer.send
            sent = [await send(dead_topic, key, value, None, None, None) for key, value in letters]
            letters.clear()
            for partition, value in routed.drain():
                sent.append(await send(routed_topic, None, value, partition, None, None))
            if sent:
                await asyncio.gather(*sent)

        stream = stream.noack()
        batch = self.app.event_batch("route", stream, publish)
        async for message in stream.events():
            await batch.handle(message, route)

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
        """Run routed messages through their partitions' engines, in batches.

        A batch's findings (and the events detectors raised on, as dead letters) are sent and
        awaited first; only then is each touched partition's state written to the table, and
        so to its changelog partition. The batch's messages are acknowledged after that, so a
        committed routed offset always has its findings in Kafka, and a crash in between
        replays the messages against the old state and sends the same findings again (same
        `finding_id`).
        """
        lateness = self.config.engine.allowed_lateness_ms
        findings_topic = self.settings.findings_topic
        dead_topic = self.settings.dead_letter_topic
        observe = self.metrics.processing.observe
        perf = time.perf_counter
        found: list = []

        def detect(message) -> None:
            started = perf()
            partition = message.message.partition
            engine = self.engine_for(partition)
            routed = decode_routed(message.value)
            if type(routed) is int:
                found.extend(engine.advance(routed - lateness))
            else:
                self.last_routed[partition] = time.monotonic()
                detectors = engine.detectors
                for name, key, event in routed:
                    detector = detectors.get(name)
                    if detector is None:  # routed before a configuration change disabled it
                        continue
                    found.extend(engine.process_routed(event, ((detector, key),)))
            observe(perf() - started)

        async def publish(events: list) -> None:
            send = self.app.producer.send
            sent = [
                await send(findings_topic, f.finding_id.encode(), f.to_json(), None, None, None)
                for f in found
            ]
            found.clear()
            letters = self.detector_letters
            sent += [await send(dead_topic, None, letter, None, None, None) for letter in letters]
            letters.clear()
            if sent:
                await asyncio.gather(*sent)
            last_of_partition = {event.message.partition: event for event in events}
            stores, deliveries = [], []
            for partition, event in last_of_partition.items():
                store = self.stores.get(partition)
                if store is None:  # Faust revokes only after acknowledgements: a bug if seen
                    raise RuntimeError(f"routed partition {partition} revoked inside a batch")
                with current_event(event):  # a RocksDB store writes to the event's partition
                    changes = await store.flush(send)
                stores.append(store)
                deliveries.append(asyncio.gather(*changes))
            for store, delivered in zip(stores, await asyncio.gather(*deliveries), strict=True):
                if delivered:
                    store.persisted(delivered[-1].offset)

        stream = stream.noack()
        batch = self.app.event_batch("detect", stream, publish)
        async for message in stream.events():
            await batch.handle(message, detect)

    async def _tick(self) -> None:
        """Advance quiet partitions by the wall clock, through the partition itself."""
        now = time.monotonic()
        idle = self.settings.idle_advance_s
        if now - self.last_input < idle:
            return  # input is flowing: event time moves with it (or catches up)
        if await self._group_has_unread_input():
            return  # a backlog waits on partitions no live worker reads: it comes first
        assignment = self.app.consumer.assignment() if self.app.consumer else set()
        tick = encode_tick(int(time.time() * 1000))
        for tp in assignment:
            if tp.topic != self.routed.get_topic_name():
                continue
            if now - self.last_routed.get(tp.partition, 0.0) >= idle:
                await self.routed.send(value=tick, partition=tp.partition)

    async def _group_has_unread_input(self) -> bool:
        """Whether input waits that no worker of the group has committed (streams/backlog.py).

        When the broker cannot tell, the tick waits too: a tick held back only delays
        deadlines, one sent too early makes the backlog late.
        """
        loop = asyncio.get_running_loop()
        try:
            unread = await loop.run_in_executor(None, self.input_backlog.unread)
        except Exception as error:  # a tick must never stop the worker
            if not self.ticks_held:
                log.warning(
                    "idle ticks held: cannot count the group's unread input: %r",
                    error,
                    exc_info=not isinstance(error, KafkaError),
                )
            self.ticks_held = True
            return True
        if unread and not self.ticks_held:
            log.info("idle ticks held: %d input messages not yet read by the group", unread)
        elif not unread and self.ticks_held:
            log.info("idle ticks resumed: the group has read all input")
        self.ticks_held = unread > 0
        return self.ticks_held

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
        """Resuming after a rebalance counts as input, as starting does: a restarted worker
        may wait long to rejoin its group, and its first tick must not move event time past
        the backlog it has yet to read."""
        self.last_input = time.monotonic()

    async def _on_shutdown(self, app, **kwargs) -> None:
        self.input_backlog.close()

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
