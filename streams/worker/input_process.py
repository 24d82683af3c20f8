"""Stage 1 in a process of its own (`input_stage = "process"`, the default).

The worker's one process was bound by its one thread: its event loop ran both stages, busy
most of the time, while the machine's second core sat idle. Stage 1 keeps no state and talks
to stage 2 only through the routed topic, so it runs as a child process forked when the worker
starts (before any thread or event loop of the worker's runs). The child waits for the app's
start (START: the app's task sends it, where it would start the inline reader), then reads,
routes and commits the input and sends the progress reports of its timer, on a core of its own
(docs/worker.md, Benchmark).

What stays one worker:
- metrics: the child sends the families it writes to the worker every `METRICS_INTERVAL_S`
  (and as it stops), and the worker's `/metrics` serves their sum (merged_metrics.py);
- failure: a child that ends while the worker is not stopping stops the worker, with an error
  when it failed (its successor routes the uncommitted input again), cleanly when it was
  stopped by SIGTERM;
- shutdown: the worker stops the child first (it finishes its batch and leaves the input
  group), as it stopped the inline reader; SIGINT (a terminal's Ctrl-C) reaches both, and the
  child leaves it to the worker;
- a worker that dies without stopping it (SIGKILL, a crash) closes the pipe between them, and
  the child stops on its own;
- health: its metric reports are its heartbeat (`stalled`, for /healthz).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.observability.health import STALE_AFTER_S
from friction_detector.streams.observability.logs import demote_normal_start_errors, use_log_format
from friction_detector.streams.observability.merged_metrics import MergedCollector, snapshot
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.event_loop import use_event_loop
from friction_detector.streams.worker.input_reader import STOP_TIMEOUT_S
from friction_detector.streams.worker.input_stage import InputStage

log = logging.getLogger(__name__)

METRICS_INTERVAL_S = 0.5  # how stale stage 1's series on /metrics may be
START, STOP = "start", "stop"  # the worker's commands to the child
# How long the worker waits for the child to stop: its reader's own limit, and then some.
CHILD_STOP_TIMEOUT_S = STOP_TIMEOUT_S + 10
RECEIVER_JOIN_S = 5.0  # how long a stop waits for the metrics thread to see the child's end


class InputProcessFailed(RuntimeError):
    """Stage 1's process ended with an error, or was killed."""


class InputProcess:
    """The worker's side of stage 1's process: starts it, takes its metrics, watches it end,
    stops it."""

    def __init__(self, stage: InputStage, metrics: FrictionMetrics) -> None:
        self.stage = stage
        self.metrics = metrics
        self.collector = MergedCollector(metrics.registry)
        self.stopping = False
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._last_report: float | None = None  # monotonic time of the child's last snapshot
        self._receiver: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Fork the child: call it before the worker starts a thread or its event loop, which
        a fork would copy half-way."""
        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_child_main,
            args=(self.stage, self.metrics, theirs, ours),
            name="friction-input",
        )
        process.start()
        theirs.close()  # the child's end: its close is how the worker sees the child gone
        self._process, self._conn = process, ours
        self._receiver = threading.Thread(
            target=self._receive, name="friction-input-metrics", daemon=True
        )
        self._receiver.start()
        log.info("stage 1 runs in process %d", process.pid)

    def _receive(self) -> None:
        """The child's metric snapshots, until it closes its end."""
        conn = self._conn
        assert conn is not None
        while True:
            try:
                self.collector.update(conn.recv())
            except (EOFError, OSError):
                return
            except Exception:  # keep reading: a child blocked on a full pipe would stall
                log.exception("stage 1's metrics could not be read")
                continue
            self._last_report = time.monotonic()

    def stalled(self) -> str | None:
        """Why the child's event loop counts as stuck, or None: it sends its metrics every
        `METRICS_INTERVAL_S` from that loop once started, so no snapshot for `STALE_AFTER_S`
        means the loop no longer turns (for /healthz, health.py)."""
        last = self._last_report
        if last is None or self.stopping:
            return None
        age = time.monotonic() - last
        if age <= STALE_AFTER_S:
            return None
        return f"stage 1's event loop stalled: last report {age:.1f} s ago"

    async def supervise(self, on_failure: Callable[[BaseException], Awaitable[None]]) -> None:
        """Start stage 1 (the child waits for this: the app's tasks start it, as they start
        the inline reader) and wait for the child to end; unless the worker is stopping, stop
        the worker too."""
        process = self._process
        if process is None:
            raise RuntimeError("stage 1's process was not started")
        conn = self._conn
        assert conn is not None
        with contextlib.suppress(OSError):  # else it has ended: seen below
            conn.send(START)
        self._last_report = time.monotonic()  # its first report is due within a second
        loop = asyncio.get_running_loop()
        ended = asyncio.Event()
        loop.add_reader(process.sentinel, ended.set)  # readable once the child has ended
        try:
            await ended.wait()
        finally:
            loop.remove_reader(process.sentinel)
        process.join()
        if self.stopping:
            return
        code = process.exitcode
        if code in (0, -signal.SIGTERM):  # stopped by SIGTERM: the worker stops as if it got one
            log.warning("stage 1's process %d stopped: the worker stops too", process.pid)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        why = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        await on_failure(InputProcessFailed(f"stage 1's process {process.pid} ended: {why}"))

    async def stop(self) -> None:
        """Stop the child (it finishes its batch and leaves the input group) and wait for it."""
        await asyncio.get_running_loop().run_in_executor(None, self.stop_now)

    def stop_now(self) -> None:
        """`stop`, blocking: also where the worker ends before its event loop runs."""
        self.stopping = True
        process, conn = self._process, self._conn
        if process is None or conn is None:
            return
        if process.is_alive():
            with contextlib.suppress(OSError):  # it is ending already
                conn.send(STOP)
            process.join(CHILD_STOP_TIMEOUT_S)
        if process.is_alive():
            log.warning("stage 1's process %d did not stop in time: killed", process.pid)
            process.kill()
            process.join()
        if self._receiver is not None:  # it reads `conn` until the child's end closes
            self._receiver.join(RECEIVER_JOIN_S)
        conn.close()


# -- the child ------------------------------------------------------------------------------


def _child_main(
    stage: InputStage, metrics: FrictionMetrics, conn: Connection, workers_end: Connection
) -> None:
    workers_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C: the worker stops us
    _use_logging(stage.settings)
    loop = use_event_loop(stage.settings.event_loop)
    try:
        code = loop.run_until_complete(_serve(stage, metrics, conn))
    finally:
        conn.close()
    sys.exit(code)


def _use_logging(settings: WorkerSettings) -> None:
    """The worker's log lines (Faust sets up the worker's logging only after the fork)."""
    root = logging.getLogger()
    root.handlers[:] = [logging.StreamHandler(sys.stderr)]
    root.setLevel(settings.log_level.upper())
    use_log_format(root, settings.log_format)
    demote_normal_start_errors()


async def _serve(stage: InputStage, metrics: FrictionMetrics, conn: Connection) -> int:
    """Wait for the worker's START, then run stage 1 until the worker says STOP, closes its
    end, SIGTERM comes, or the reader fails; the exit code: 1 only when it failed."""
    loop = asyncio.get_running_loop()
    commands = _commands(conn)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    stopped = asyncio.create_task(stop.wait())
    first = asyncio.create_task(commands.get())
    await asyncio.wait({first, stopped}, return_when=FIRST_COMPLETED)
    if not first.done() or first.result() != START:  # the worker stopped before it started
        first.cancel()
        stopped.cancel()
        return 0
    failures: list[BaseException] = []

    async def failed(error: BaseException) -> None:  # the reader has left its group already
        failures.append(error)

    async def until_stop() -> None:
        while await commands.get() != STOP:
            pass
        stop.set()

    stage.reader.on_failure = failed  # the app's crash is the worker's, in the other process
    listening = asyncio.create_task(until_stop())
    reading = asyncio.create_task(stage.run(), name="input-reader")
    reporting = asyncio.create_task(_every(stage.settings.tick_interval_s, _reporter(stage)))
    pushing = asyncio.create_task(_every(METRICS_INTERVAL_S, lambda: _send_metrics(conn, metrics)))
    await asyncio.wait({reading, stopped}, return_when=FIRST_COMPLETED)
    reporting.cancel()  # before the stop closes what it uses (the producer, the backlog)
    await asyncio.gather(reporting, return_exceptions=True)
    if not reading.done():
        try:
            await stage.stop()
        except TimeoutError:  # asked to stop: the uncommitted input is read again anyway
            log.error("stage 1 did not stop within %.0f s", STOP_TIMEOUT_S)
        reading.cancel()  # no-op once it has returned
    else:
        stage.reports.backlog.close()
    for task in (stopped, listening, pushing):
        task.cancel()
    await asyncio.gather(reading, stopped, listening, pushing, return_exceptions=True)
    await _send_metrics(conn, metrics)
    failed_itself = reading.done() and not reading.cancelled() and reading.exception()
    return 1 if failures or failed_itself else 0


def _commands(conn: Connection) -> asyncio.Queue[str]:
    """The worker's commands as they arrive; its end closed reads as STOP."""
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()

    def readable() -> None:
        try:
            while conn.poll():
                commands.put_nowait(conn.recv())
        except (EOFError, OSError):
            loop.remove_reader(conn.fileno())
            commands.put_nowait(STOP)

    loop.add_reader(conn.fileno(), readable)
    return commands


def _reporter(stage: InputStage) -> Callable[[], Awaitable[None]]:
    """The progress timer's work, sending with stage 1's producer."""
    topic = stage.settings.routed_topic

    async def send_to(value: bytes, partition: int) -> None:
        await stage.reader.send()(topic, None, value, partition, None, None)

    async def report() -> None:
        if stage.reader.sending:
            await stage.report_progress(send_to)

    return report


async def _every(interval_s: float, work: Callable[[], Awaitable[None]]) -> None:
    """`work` every `interval_s`; a failure is logged and the timer goes on (the reader's own
    sends fail the process when the broker is really gone)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await work()
        except Exception as error:
            log.warning("stage 1 timer: %r", error, exc_info=True)


async def _send_metrics(conn: Connection, metrics: FrictionMetrics) -> None:
    with contextlib.suppress(OSError):  # the worker is gone: the stop follows
        conn.send(snapshot(metrics.registry))
