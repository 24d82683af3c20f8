"""The Faust app: the reader of the input, a detection agent around the detection core, state in
a changelogged table.

This module wires the reader, agents and timers; each stage's work lives in its own module.
Stage 1 (route.py) decodes the input, dead-letters bad input and sends each (detector, key)
item to the internal routed topic, on the partition of that state key, grouped per partition
and batch (routing.py: one message, split so that a produce request stays below 384 KiB, down
to 16 KiB a message), with how far each input partition has read in event time (progress.py).
It keeps no state, so it reads the input topics with a consumer of its own, in batches held
`batch_hold_ms` from their first record, committed once what they routed is in Kafka
(input_reader.py), not through Faust's per-message path; and by default it runs in a process
of its own (input_stage.py, input_process.py), which the app's task starts and supervises.
The agents of stages 2 and 3 (engine_agent.py) work in batches (batching.py): events are
handled one by one and acknowledged once what a batch produced is in Kafka (delivery.py; dead
letters and replacements of refused records in records.py). A message whose handling raises
goes to the dead letters, and the batch goes on.
Stage 2 (`detect`) reads the routed topic with one `Engine` per partition (detection.py: a
partition's engine, store, rollup and state counts are one object), whose store is the
partition's slice of a Faust table (partition_store.py), and whose watermark follows the
slowest input partition, of all those the input topics have (`input_sources`), heard from or
not.
Everything an engine touches while handling a message of partition P is a key of P, and the
worker writes the partition's changes to changelog partition P, so a restart or rebalance
recovers exactly that partition's state. A timer reports the progress to every routed
partition (progress_reports.py); an input partition that is quiet for `idle_advance_s`, and
that the group has read all of (backlog.py), follows the wall clock, so deadlines fire at night
too.

Stage 3 (`accumulate`) runs the detectors over findings (`friction_accumulated`): stage 2 sends
each finding to the partition of its customer on the internal customers topic, and reports
its partitions' settled times there once their findings are in Kafka (customers.py); one
`Engine` per customers partition, state in its own table, follows the slowest of them.

Alerting (`alert`): each engine also counts its findings and measurements in a rollup; a
timer sends the rollups to a one-partition topic, whose owner merges them into the alert
engine (see streams/worker/alerting.py) and publishes alerts to the alerts topic and Alertmanager.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import faust
from faust.types import TP
from friction_detector.detectors.config import Config
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.observability.alertmanager import AlertmanagerClient
from friction_detector.streams.observability.kafka_sensor import KafkaClientSensor
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.sources import input_source
from friction_detector.streams.webhook.sink import worker_webhook
from friction_detector.streams.worker.alerting import WorkerAlerting
from friction_detector.streams.worker.customers import CustomerFindings
from friction_detector.streams.worker.delivery import Outgoing
from friction_detector.streams.worker.detection import DetectionPartitions
from friction_detector.streams.worker.dropped_state import DroppedStates
from friction_detector.streams.worker.engine_agent import EngineAgent
from friction_detector.streams.worker.faust_app import FrictionFaustApp
from friction_detector.streams.worker.input_process import InputProcess
from friction_detector.streams.worker.input_stage import InputStage
from friction_detector.streams.worker.records import WorkerRecords

log = logging.getLogger(__name__)

STATE_TABLE = "engine-state"
ACCUMULATION_TABLE = "accumulation-state"
ALERT_TABLE = "alert-state"
ALERT_SNAPSHOT_KEY = "engine"
ROLLUP_INTERVAL_S = 1.0


# -- state ----------------------------------------------------------------------------------


def changelog_topics(app_id: str) -> tuple[str, ...]:
    """The changelog topics of the worker's tables, as Faust names them, known before it starts."""
    tables = (STATE_TABLE, ACCUMULATION_TABLE, ALERT_TABLE)
    return tuple(f"{app_id}-{table}-changelog" for table in tables)


# -- the app --------------------------------------------------------------------------------


class FrictionApp:
    """Builds the Faust app and holds what its agents share: engines, metrics, clocks."""

    def __init__(
        self,
        settings: WorkerSettings,
        config: Config,
        metrics: FrictionMetrics,
        input_sources: Sequence[str] = (),
    ) -> None:
        """`input_sources`: every input partition there is (`topic:partition`), whoever reads
        it. Stage 2's watermark waits until each has reported progress: stage 1 reads a backlog
        one partition's fetch at a time, and a partition not yet heard from would otherwise let
        the watermark run ahead of its events, which would all come late."""
        self.settings = settings
        self.config = config
        self.metrics = metrics
        self.records = WorkerRecords(settings, metrics)
        # Dead letters of stage 2's current batch (events detectors raised on), sent with its
        # findings.
        self.detect_letters: list[Outgoing] = []
        self.accumulate_letters: list[Outgoing] = []
        self.alerting = WorkerAlerting(config, metrics, settings.partitions)
        self.alertmanager = (
            AlertmanagerClient(settings.alertmanager_url, settings.alert_resend_s)
            if settings.alertmanager_url
            else None
        )
        self.webhook = worker_webhook(config, metrics.registry)  # None without [webhook]
        self.app = self._build()
        conf = self.app.conf
        self.input = InputStage(
            settings, config, self.records, metrics, self.app.on_batch_failure,
            group_timing={
                "session_timeout_ms": int(conf.broker_session_timeout * 1000),
                "heartbeat_interval_ms": int(conf.broker_heartbeat_interval * 1000),
                "request_timeout_ms": int(conf.broker_request_timeout * 1000),
            },
        )  # fmt: skip
        self.route_stage = self.input.route_stage
        # Stage 1 in a process of its own, which `friction worker` starts (`start`) before
        # the app: the app's task supervises it. None: stage 1 runs in the app.
        self.input_process = (
            InputProcess(self.input, metrics) if settings.input_stage == "process" else None
        )
        self.dropped = DroppedStates(settings, self.records, lambda: self.app.producer.send)
        self.detection = DetectionPartitions(
            config, self.table, settings.partitions, settings.input_topics, metrics,
            self.alerting, self.records.letter_to(self.detect_letters), self.dropped.report,
            app=self.app, topic=settings.routed_topic, expected=input_sources,
        )  # fmt: skip
        routed = [input_source(settings.routed_topic, p) for p in range(settings.partitions)]
        self.accumulation = DetectionPartitions(
            config, self.accumulation_table, settings.partitions, [settings.routed_topic],
            metrics, None, self.records.letter_to(self.accumulate_letters), self.dropped.report,
            app=self.app, topic=settings.customers_topic, detectors=config.finding_detectors,
            allowed_lateness_ms=0, expected=routed,
        )  # fmt: skip
        self.customer_findings = (
            CustomerFindings(
                config.finding_detectors,
                self.records,
                settings.customers_topic,
                settings.routed_topic,
                settings.partitions,
                settings.tick_interval_s / 2,
            )  # fmt: skip
            if config.finding_detectors
            else None
        )

    def _build(self) -> FrictionFaustApp:
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
            broker_commit_interval=s.commit_interval_s,
            **options,
        )
        raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
        self.routed = app.topic(s.routed_topic, partitions=s.partitions, internal=True, **raw)
        # App.Table is typed as the TableT interface; what it makes is a faust.Table.
        self.table = cast(
            faust.Table,
            app.Table(STATE_TABLE, partitions=s.partitions, key_type=str, value_type=None),
        )
        self.customers = app.topic(s.customers_topic, partitions=s.partitions, internal=True, **raw)
        self.accumulation_table = cast(
            faust.Table,
            app.Table(ACCUMULATION_TABLE, partitions=s.partitions, key_type=str, value_type=None),
        )
        self.alerts = app.topic(s.alerts_topic, **raw)
        self.rollups = app.topic(s.rollups_topic, partitions=1, internal=True, **raw)
        self.alert_table = app.Table(ALERT_TABLE, partitions=1, key_type=str, value_type=None)
        app.task(self._read_input)
        app.agent(self.routed, name="detect", concurrency=1)(self._detect)
        app.agent(self.customers, name="accumulate", concurrency=1)(self._accumulate)
        if self.config.finding_detectors:
            app.timer(s.tick_interval_s, name="report-findings-sent")(self._report_findings_sent)
        if s.input_stage == "inline":  # else stage 1's process reports its progress
            app.timer(s.tick_interval_s, name="report-progress")(self._report_progress)
        app.agent(self.rollups, name="alert", concurrency=1)(self._alert)
        app.timer(ROLLUP_INTERVAL_S, name="rollup")(self._send_rollups)
        if self.alertmanager is not None:
            app.timer(min(15.0, s.alert_resend_s / 2), name="alert-resend")(self._resend)
        # Faust types a handler as (sender, *args, signal, **kwargs); it calls ours as declared.
        app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]
        app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]
        app.on_before_shutdown.connect(self._on_shutdown)  # type: ignore[arg-type]
        app.sensors.add(KafkaClientSensor(app, self.metrics))
        return app

    # -- stage 1 ------------------------------------------------------------------------

    async def _read_input(self) -> None:
        """Stage 1 (route.py), read in batches by its own consumer (input_reader.py), here or
        in its own process (input_process.py), whose end, unless the worker stops, stops the
        worker."""
        if self.input_process is not None:
            await self.input_process.supervise(self.app.on_batch_failure)
        else:
            await self.input.run()

    async def _report_progress(self) -> None:
        """The input partitions' progress to every routed partition (progress_reports.py)."""

        async def send_to(value: bytes, partition: int) -> None:
            await self.routed.send(value=value, partition=partition)

        await self.input.report_progress(send_to)

    # -- stage 2 ------------------------------------------------------------------------

    async def _detect(self, stream) -> None:
        """Stage 2: the routed topic through the detectors over events (engine_agent.py)."""
        await self._engine_agent(
            "detect", self.settings.routed_topic, self.detection, self.detect_letters,
            self.customer_findings,
        ).run(stream)  # fmt: skip

    async def _accumulate(self, stream) -> None:
        """Stage 3: the customers topic through the detectors over findings (customers.py)."""
        await self._engine_agent(
            "accumulate", self.settings.customers_topic, self.accumulation,
            self.accumulate_letters, None,
        ).run(stream)  # fmt: skip

    def _engine_agent(
        self,
        name: str,
        topic: str,
        detection: DetectionPartitions,
        letters: list[Outgoing],
        customers: CustomerFindings | None,
    ) -> EngineAgent:
        return EngineAgent(
            self.app, name, topic, detection, letters, customers, self.records, self.metrics,
            self.webhook, self.settings.commit_interval_s,
        )  # fmt: skip

    async def _report_findings_sent(self) -> None:
        """Stage 2's settled times, whose findings are in Kafka, to every customers partition."""
        if self.customer_findings is None:  # the timer is set only with detectors over findings
            return
        for partition, value in self.customer_findings.reports():
            await self.customers.send(value=value, partition=partition)

    # -- alerting -----------------------------------------------------------------------

    async def _send_rollups(self) -> None:
        """Each partition's counts since the last send, with its watermark."""
        for message in self.alerting.drain():
            await self.rollups.send(value=message, partition=0)

    async def _alert(self, stream) -> None:
        loop = asyncio.get_running_loop()
        async for message in stream.events():
            if not self.alerting.restored:
                self.alerting.restore(
                    self.alert_table.get(ALERT_SNAPSHOT_KEY), await self._rollups_end()
                )
                if self.alertmanager is not None:
                    await loop.run_in_executor(
                        None, self.alertmanager.publish, self.alerting.engine.firing()
                    )
            alerts = self.alerting.merge(message.value, message.message.offset)
            for alert in alerts:
                await self.alerts.send(key=alert.alert_id.encode(), value=alert.to_json())
            if alerts and self.webhook is not None:
                self.webhook.alerts(alerts)
            if alerts and self.alertmanager is not None:
                await loop.run_in_executor(None, self.alertmanager.publish, alerts)
            self.alert_table[ALERT_SNAPSHOT_KEY] = self.alerting.snapshot()

    async def _rollups_end(self) -> int | None:
        """The rollups partition's end offset, or None when the broker does not say."""
        tp = TP(self.settings.rollups_topic, 0)
        try:
            return (await self.app.consumer.highwaters(tp)).get(tp)
        except Exception as error:  # the check is a guard: alerting goes on without it
            log.warning("rollups topic: its end offset could not be read (%r)", error)
            return None

    async def _resend(self) -> None:
        """Alertmanager forgets an alert not re-sent within its resolve timeout."""
        if self.alertmanager is None:  # the timer is set only with Alertmanager configured
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.alertmanager.resend_due)

    async def _on_shutdown(self, app, **kwargs) -> None:
        if self.input_process is not None:
            await self.input_process.stop()
        else:
            await self.input.stop()
        if self.webhook is not None:  # bounded by webhook.flush_timeout_s
            await asyncio.get_running_loop().run_in_executor(None, self.webhook.close)

    async def _on_assigned(self, app, assigned, **kwargs) -> None:
        """Without the rollups partition this worker no longer owns the alert agent: it stops
        re-sending its firing alerts to Alertmanager (their new owner's resolution would be
        undone) and showing them as firing in its gauge. Every rebalance revokes the partition
        first, so this waits for the new assignment rather than act on each revoke."""
        if any(tp.topic == self.settings.rollups_topic for tp in assigned):
            return
        self.alerting.hand_over()
        if self.alertmanager is not None:
            self.alertmanager.forget_firing()

    async def _on_revoked(self, app, revoked, **kwargs) -> None:
        """A partition that moves away takes its state along: drop its engine.

        Faust calls this once the batches in hand are acknowledged, so the rollups counted so
        far are of finished work: they go to the alert agent first, or its new owner (which
        counts only what it detects) would leave them uncounted."""
        if any(tp.topic == self.settings.routed_topic for tp in revoked):
            await self._send_rollups()
        for tp in revoked:
            if tp.topic == self.settings.rollups_topic:
                self.alerting.restored = False  # the next owner resumes from the snapshot
            if tp.topic == self.settings.routed_topic:
                self.detection.revoke(tp.partition)
                if self.customer_findings is not None:
                    self.customer_findings.revoke(tp.partition)
            if tp.topic == self.settings.customers_topic:
                self.accumulation.revoke(tp.partition)
