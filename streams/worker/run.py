"""`friction worker`: create the topics, serve metrics, run the Faust app until stopped."""

from __future__ import annotations

import logging
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import faust
from friction_detector.detectors.config import Config
from friction_detector.streams.kafka.auth import AuthenticationFailed, check_authentication
from friction_detector.streams.kafka.failures import report_failure
from friction_detector.streams.kafka.settings import SettingsError, WorkerSettings
from friction_detector.streams.kafka.topics import ensure_topics
from friction_detector.streams.observability.health import Health
from friction_detector.streams.observability.logs import (
    as_log_line,
    demote_normal_start_errors,
    use_log_format,
)
from friction_detector.streams.observability.metrics import FrictionMetrics, alert_series
from friction_detector.streams.sources import input_source
from friction_detector.streams.worker.app import FrictionApp, changelog_topics
from friction_detector.streams.worker.event_loop import loop_kind, use_event_loop
from friction_detector.streams.worker.gc_policy import use_worker_thresholds
from friction_detector.streams.worker.heartbeat import Heartbeat
from friction_detector.streams.worker.recovery_watchdog import RecoveryWatchdog
from kafka.errors import KafkaError


class FrictionWorker(faust.Worker):
    """Faust's worker with the project's log lines (streams/observability/logs.py), and without
    Faust's spinner unless both outputs are a terminal: it writes escape codes even to a file."""

    def __init__(self, *services: Any, log_format: str = "text", **kwargs: Any) -> None:
        super().__init__(*services, **kwargs)
        self.log_format = log_format
        on_terminal = self.stdout.isatty() and self.stderr.isatty()
        if log_format != "text" or not on_terminal:
            self.spinner = None

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        use_log_format(logger, self.log_format)
        demote_normal_start_errors()


def _version() -> str:
    try:
        return version("friction-detector")
    except PackageNotFoundError:
        return "0"


def prepare_topics(settings: WorkerSettings) -> list[str]:
    """Every topic the worker reads or writes, before Faust subscribes (see streams/topics);
    returns the input partitions there are (as progress names them, `topic:partition`)."""
    n = settings.partitions
    wanted = dict.fromkeys(settings.input_topics, n)
    wanted.update(
        {
            settings.findings_topic: n,
            settings.dead_letter_topic: n,
            settings.alerts_topic: n,
            settings.routed_topic: n,
            settings.customers_topic: n,
            settings.rollups_topic: 1,
        }
    )
    exact = {settings.routed_topic, settings.customers_topic, settings.rollups_topic}
    counts = ensure_topics(settings, wanted, exact=exact)
    return [
        input_source(topic, partition)
        for topic in settings.input_topics
        for partition in range(counts.get(topic, 0))
    ]


def run_worker(settings: WorkerSettings, config: Config) -> int:
    """Run until SIGINT/SIGTERM; returns the exit code."""
    try:
        check_authentication(settings)
        input_sources = prepare_topics(settings)
    except (SettingsError, AuthenticationFailed) as err:
        print(f"friction worker: {err}", file=sys.stderr)
        return 2
    except KafkaError as err:
        what = f"creating topics at {','.join(settings.bootstrap)}"
        report_failure("worker", what, err, settings.debug)
        return 1
    consumed = {t for d in config.detectors for t in d.consumes}
    metrics = FrictionMetrics(
        consumed,
        version=_version(),
        detectors=config.enabled,
        alerts=alert_series(config),
        changelog_topics=changelog_topics(settings.app_id),
        label_values=settings.metric_label_values,
    )
    use_worker_thresholds()
    loop = use_event_loop(settings.event_loop)  # before Faust and its clients take it
    friction = FrictionApp(settings, config, metrics, input_sources)
    stage1 = friction.input_process
    try:
        if stage1 is not None:
            stage1.start()  # a fork: before the metrics server's thread and Faust's
        return _serve_and_run(settings, friction, metrics, loop)
    finally:
        if stage1 is not None:
            stage1.stop_now()  # stopped already, unless the worker ended before its loop ran


def _serve_and_run(
    settings: WorkerSettings, friction: FrictionApp, metrics: FrictionMetrics, loop: Any
) -> int:
    health = Health()
    where = f"{settings.metrics_addr}:{settings.metrics_port}"
    stage1 = friction.input_process
    if stage1 is not None:
        health.also_watch(stage1.stalled)
    served = stage1.collector.served() if stage1 is not None else None
    if settings.metrics_port:
        try:
            metrics.serve(settings.metrics_port, settings.metrics_addr, health, served)
        except OSError as err:
            report_failure("worker", f"serving metrics on {where}", err, settings.debug)
            return 2
    started = (
        f"friction worker {settings.app_id}: {', '.join(settings.input_topics)} -> "
        f"{settings.findings_topic} ({len(friction.config.detectors)} detectors, store "
        f"{settings.store}, "
        f"{f'stage 1 in process {stage1.pid}' if stage1 is not None else 'stage 1 inline'}, "
        f"metrics {'on ' + where if settings.metrics_port else 'off'}, "
        f"event loop {loop_kind(loop)})"
    )
    print(as_log_line(started, settings.log_format, __name__), file=sys.stderr, flush=True)
    worker = FrictionWorker(
        friction.app,
        RecoveryWatchdog(friction.app, metrics),
        Heartbeat(friction.app, health),
        loop=loop,
        log_format=settings.log_format,
        loglevel=settings.log_level,
        quiet=True,
        redirect_stdouts=False,
        override_logging=True,
    )
    try:
        worker.execute_from_commandline()
    except SystemExit as done:
        return int(done.code or 0)
    return 0
