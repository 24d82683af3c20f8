"""Every reach of the worker into Faust's private API, in one place.

The worker uses Faust for transport, tables and changelogs. Where stock Faust 0.15 lost records
around a rebalance, or cost more than detection, the worker works around it here, through
attributes and methods Faust does not document; the rest of the worker uses only the public
names below. Each workaround's docstring says what it works around and which Faust behaviour
it relies on. pyproject.toml keeps faust-streaming at 0.15.x, and
tests/unit/test_faust_internals.py fails if any of that behaviour changes: run it after an
upgrade before anything else. The same tests pin the few undocumented names used elsewhere as
they are: the producer's positional `send` (app.py, partition_store.py), a stream's
`channel.queue` (batching.py) and the sensor hooks (observability/kafka_sensor.py).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
import weakref
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
)
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Protocol

import faust
import faust.streams as faust_streams
import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError
from aiokafka.producer.message_accumulator import BatchBuilder
from faust.stores.memory import Store as MemoryStore
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, EventT, Message
from faust.utils import json as faust_json
from friction_detector.streams import kept_json
from mode.services import WaitResults
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

log = logging.getLogger(__name__)

# -- the app: flow control, and the wait for acknowledgements --------------------------------


class FlowControlKeepingQueues(FlowControlEvent):
    """Resuming lets records into the queues again and leaves the ones already there.

    Works around: when table recovery ends, Faust resumes the stream partitions, waits for a
    seek to committed offsets, then resumes the flow, and mode's `FlowControlEvent.resume`
    empties every stream queue. Records the fetcher delivered during that wait were dropped
    although their offsets had been read: nothing read them again. Queues are still emptied by
    `clear()`, which Faust calls when partitions are revoked, and a stream skips records of an
    older consumer generation, so no record of a partition the worker lost is processed.

    Relies on: `FlowControlEvent` keeping its state in the events `_suspend` and `_resume`
    (this `resume` is the stock one without its `clear()`), and on `App.flow_control` being
    the one cached instance every stream queue is managed by.
    """

    def resume(self) -> None:
        self._suspend.clear()
        self._resume.set()


class CommitHold(Protocol):
    """What keeps a partition's commit back: its acknowledged messages from `first()` on stay
    uncommitted (streams/worker/held_messages.py)."""

    def first(self) -> int | None: ...


class GuardedFaustApp(faust.App):
    """Faust's app with the worker's guards: the seek-safe Kafka transport, flow control that
    keeps queues on resume, a hook before Faust waits for acknowledgements, and the partitions
    whose commit is held back (`hold_commits`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transport = SeekSafeTransport(self.conf.broker_consumer, self)
        self.commit_holds: dict[TP, CommitHold] = {}

    def hold_commits(self, topic: str, partition: int, hold: CommitHold) -> None:
        """Commit the partition only up to `hold.first()`, however far it is acknowledged."""
        self.commit_holds[TP(topic, partition)] = hold

    def drop_commit_hold(self, topic: str, partition: int) -> None:
        """The partition was revoked and its last commit made: its acknowledgements from the
        held offset on are forgotten too, as its owner reads those messages again from there
        (this worker too, if it is assigned the partition again)."""
        tp = TP(topic, partition)
        hold = self.commit_holds.pop(tp, None)
        first = hold.first() if hold is not None else None
        if first is not None:
            consumer = self.consumer
            if isinstance(consumer, _SeekSafeConsumer):
                consumer.forget_acks_from(tp, first)

    async def before_waiting_for_acks(self, logger: Any) -> bool:
        """Called before Faust waits, on revocation and on stop, for every message it handed
        out to be acknowledged; returns whether to wait (and so commit). `logger` is Faust's."""
        return True

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        """Works around: nothing public runs between Faust stopping the fetcher and waiting for
        the acknowledgements, and an agent holding a batch while it waits for input would never
        acknowledge it: the wait hung until the worker was killed.

        Relies on: `App._on_partitions_revoked` and `App._stop_consumer` awaiting
        `self._consumer_wait_empty(consumer, logger)`, which waits for `consumer.wait_empty()`.
        """
        if await self.before_waiting_for_acks(logger):
            await super()._consumer_wait_empty(consumer, logger)

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return FlowControlKeepingQueues(loop=self.loop)


@contextmanager
def current_event(event: EventT) -> Iterator[None]:
    """Make `event` Faust's current event while the block runs.

    Works around: a RocksDB store writes a key to the database of the current event's
    partition, and Faust sets the current event only while a stream hands one out; an agent
    that writes a batch's state after the batch names an event of that partition.

    Relies on: `faust.current_event()` reading the context variable
    `faust.streams._current_event`, which holds a weak reference to the event.
    """
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


class _PartitionEvent:
    """Stands for an event of `partition` where Faust reads only its `message.partition`."""

    __slots__ = ("message", "__weakref__")

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition)


@contextmanager
def partition_current(partition: int) -> Iterator[None]:
    """Make an event of `partition` Faust's current event while the block runs (`current_event`)
    for what the worker does to a partition's local store outside the event that changed it:
    a RocksDB store looks a key up, writes and deletes it in the database of the current
    event's partition, and whatever event the agent handled last may be another partition's.

    Relies on: the RocksDB store reading nothing of the current event but `message.partition`.
    """
    event = _PartitionEvent(partition)
    with current_event(event):  # type: ignore[arg-type]  # an EventT as far as the store reads
        yield


# -- the Kafka transport: seeking back to committed offsets ----------------------------------


async def seek_to_committed_or_beginning(
    consumer: AIOKafkaConsumer, changelogs: Collection[str] = ()
) -> Mapping[TP, int]:
    """Seek every assigned partition to its committed offset, or to its start if it has none.

    When Faust's fetcher gets records while the flow is stopped (during a rebalance), it drops
    them and calls `perform_seek` to read them again from the committed offsets. aiokafka's
    `seek_to_committed` seeks only partitions whose committed offset is above 0, so a partition
    with no commit yet (a new group, or one never acknowledged) stays *after* the dropped
    records: they are skipped, and once a later offset is committed, lost. The worker starts
    from the earliest offset where nothing is committed, so that is where such partitions go.
    (Asking the broker for their start offsets here as well left a restarted member reading
    none of some of its partitions, 2 restarts in 5: the guard against committing past
    unhandled records counts such partitions from offset 0 instead.)
    Changelog partitions are left alone: Faust's table recovery positions those, not commits.
    """
    committed = await consumer.seek_to_committed()
    uncommitted = [
        tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs
    ]
    if uncommitted:
        await consumer.seek_to_beginning(*uncommitted)
    return committed


def unhandled_head(acked: Iterable[int], gaps: Any, next_offset: int) -> tuple[int, int] | None:
    """The offsets [first, last) before the lowest acknowledged one that were neither handled
    (acknowledged) nor hold a record (`gaps`, Faust's IntervalTree of offsets without one),
    counted from `next_offset`, the partition's committed offset; None if there are none."""
    lowest = min(acked, default=None)
    if lowest is None or lowest <= next_offset:
        return None
    reached = next_offset
    for interval in sorted(gaps.overlap(next_offset, lowest), key=lambda gap: gap.begin):
        if interval.begin > reached:
            break
        reached = max(reached, interval.end)
    return None if reached >= lowest else (reached, lowest)


class _SeekSafeConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """The aiokafka consumer's thread: seeks back to committed offsets (see
    `seek_to_committed_or_beginning`), does not hold fetches for unread changelogs, and does
    not let a fetch wait at the broker while input arrives (`bound_fetch_waits`).

    Relies on: `Consumer.perform_seek` awaiting `seek_to_committed()`, which the aiokafka
    driver's consumer delegates to its thread's `seek_to_committed()`, and that thread running
    aiokafka calls through `call_thread` on `_ensure_consumer()`; on `on_start()` starting the
    aiokafka consumer in `_consumer`, whose `_fetcher` reads `_prefetch_backoff`.
    """

    # aiokafka sends a broker its next fetch only once every partition's fetched records were
    # read, or after `prefetch_backoff` (0.1 s). Faust never reads the changelog partitions of
    # the tables it keeps, and the broker returns each one's records once after a
    # (re)assignment: each time, the input, routed and customers partitions were not fetched
    # for 0.1 s, the largest share of a trickle's 99th-percentile latency
    # (docs/worker.md, "Benchmark").
    PREFETCH_BACKOFF_S = 0.005
    # How long the broker may hold a fetch for data (Faust sets 1,500 ms): a fetch of every
    # partition read, and one that leaves out some whose records are still being read.
    FETCH_MAX_WAIT_MS = 100
    PARTIAL_FETCH_MAX_WAIT_MS = 20

    async def on_start(self) -> None:
        await super().on_start()
        fetcher = self._ensure_consumer()._fetcher
        fetcher._prefetch_backoff = self.PREFETCH_BACKOFF_S
        changelogs = frozenset(self.app.tables.changelog_topics)
        bound_fetch_waits(
            fetcher, changelogs, self.FETCH_MAX_WAIT_MS, self.PARTIAL_FETCH_MAX_WAIT_MS
        )

    async def seek_to_committed(self) -> Mapping[TP, int]:
        changelogs = self.app.tables.changelog_topics
        committed = await self.call_thread(
            seek_to_committed_or_beginning, self._ensure_consumer(), changelogs
        )
        consumer = self.consumer
        if isinstance(consumer, _SeekSafeConsumer):  # the consumer that made this thread
            consumer.sought(committed)
        return committed


def bound_fetch_waits(
    fetcher: Any, unread: frozenset[str], max_wait_ms: int, partial_max_wait_ms: int
) -> None:
    """Let the broker hold a fetch for data at most `max_wait_ms`, and one that leaves out
    partitions whose fetched records are still being read at most `partial_max_wait_ms`.

    Works around: aiokafka leaves out of its next fetch each partition whose fetched records
    are not all read yet, the broker holds a fetch until a partition it asks for has data or
    `fetch_max_wait_ms` passed (Faust sets 1,500 ms), and aiokafka sends that broker no other
    fetch meanwhile. Under load the input partitions still had records being read when a fetch
    went out; the partitions it asked for got nothing new until the input was read, so no
    input was fetched for up to 1.5 s: at 2,000 events/s, one event per message, findings came
    1 to 4 s after their events. A fetch that left nothing out still stalled now and then under
    that load (p99 365 to 698 ms in three runs, against 131 to 583 ms when bounded too), so it
    waits `max_wait_ms`: an idle worker fetches that often instead of every 1.5 s
    (docs/worker.md, "Benchmark"). Partitions of `unread` topics (the changelogs, which Faust
    reads only to recover) keep their records for good and do not count.

    Relies on: the fetcher keeping the partitions with records not yet read in `_records`,
    and building each fetch request from `_fetch_max_wait_ms` in
    `_get_actions_per_node(assignment)`.
    """
    plan = fetcher._get_actions_per_node

    def plan_fetches(assignment: Any) -> Any:
        being_read = any(tp.topic not in unread for tp in fetcher._records)
        fetcher._fetch_max_wait_ms = partial_max_wait_ms if being_read else max_wait_ms
        return plan(assignment)

    fetcher._get_actions_per_node = plan_fetches


class _SeekSafeConsumer(faust_aiokafka.Consumer):
    """Faust's consumer that reads records again rather than commit past unhandled ones.

    Works around: Faust commits a partition's first run of consecutive acknowledged offsets,
    and checks that the run starts where the committed offset is only when that offset is above
    0. Around a rebalance, records can go missing between the fetcher and the stream while the
    flow stops, resumes and seeks; on a partition with no commit yet, the run after them was
    committed, and they were lost (one test in five with two workers and a slow recovery).
    Here a run must start at the committed offset (or offset 0 where nothing is committed),
    offsets without a record aside: otherwise nothing of
    the partition is committed and it is read again from the first unhandled offset. Records
    after it are handled twice, which the worker's stages absorb as after any restart. Records
    the fetch loop got before that seek are held back until it lands (`getmany`): they moved
    its read offset past the unhandled records, which it then dropped, and a hole took several
    re-reads, 10 s apart, to close.

    A revoke makes Faust forget the partition's acknowledged and committed offsets before it
    waits for the messages it handed out; their acknowledgements then came in alone, looked
    like offsets after unhandled ones, and the partition was read again from its start (from 0
    where its first commit was under way). What Faust forgot is put back while it waits
    (`on_partitions_revoked`), so the commit that ends the revoke counts every handled offset.
    Acknowledgements below the offset a partition is then sought to (`sought`: the group's
    commit, on a new assignment) are dropped: a commit from them would go back behind it.

    A partition whose commit the app holds back (`GuardedFaustApp.hold_commits`: messages
    acknowledged while their items still wait) is committed only up to its first held offset;
    once it is revoked, its acknowledgements from there on are forgotten (`forget_acks_from`),
    so a commit after it is assigned again counts only the messages read again.

    Relies on: `Consumer._new_offset(tp)` being how a commit picks each partition's offset,
    `_acked[tp]`, `_acked_index[tp]`, `_gap[tp]` (an IntervalTree), `_committed_offset[tp]`,
    `_read_offset[tp]` and `seek(tp, offset)`; on `on_partitions_revoked` dropping a revoked
    partition's `_acked`, `_acked_index` and `_committed_offset` and then awaiting
    `self._on_partitions_revoked(revoked)`; on the driver's consumer creating its thread in
    `_new_consumer_thread()`; and on `_drain_messages` reading records from `self.getmany()`
    and dropping each one before `_read_offset[tp]`.
    """

    # The same unhandled offset is read again at most this often, and this many times: if the
    # broker has no record there, none comes, and the commit goes on (Faust's own behaviour).
    REREAD_EVERY_S = 10.0
    REREAD_TIMES = 3
    _rereads: dict[tuple[TP, int], tuple[int, float]] | None = None  # (tp, offset): times, when
    # Partitions read again: (from, until), until a record at or before `until` comes.
    _rereading: dict[TP, tuple[int, int]] | None = None

    _delivery: asyncio.Future[Any] | None = None  # the record being handed to the streams
    # What `suspend_flow.wait()` runs: Faust's consumer makes `suspend_flow` an asyncio.Event.
    _FLOW_WAIT = asyncio.Event.wait.__code__

    def _new_consumer_thread(self) -> _SeekSafeConsumerThread:
        return _SeekSafeConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        """Hand one fetched record to its streams in one task, not in Faust's race of four.

        Faust's fetch loop delivers each record with `wait_first(callback(record),
        suspend_flow.wait())`, so that a stop of the flow (a rebalance) abandons a delivery
        blocked on a full stream queue. That race starts four tasks and an `asyncio.wait` per
        record: an eighth of a worker's CPU on one event per message. While the flow is active,
        the delivery runs as one task that `stop_flow` cancels instead, which abandons it as the
        race would; any other wait, and one that starts with the flow stopped, is Faust's.

        Relies on: `Consumer._drain_messages` calling `self.wait_first(callback(message),
        self.suspend_flow.wait())` and ignoring the result, `suspend_flow` being an
        `asyncio.Event`, and `stop_flow()` being how the flow stops.
        """
        if (
            len(coros) != 2
            or timeout is not None
            or getattr(coros[1], "cr_code", None) is not self._FLOW_WAIT
            or self.suspend_flow.is_set()
        ):
            return await super().wait_first(*coros, timeout=timeout)
        delivery, suspended = coros
        suspended.close()  # never awaited: `stop_flow` cancels the delivery instead
        task = self._delivery = asyncio.ensure_future(delivery)
        try:
            result = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not task.cancelled() or (current is not None and current.cancelling()):
                raise  # the fetch loop itself is cancelled: the worker stops
            return WaitResults([suspended], [None], False)  # abandoned, as Faust's race would
        finally:
            self._delivery = None
        return WaitResults([delivery], [result], False)

    def stop_flow(self) -> None:
        super().stop_flow()
        delivery = self._delivery
        if delivery is not None and not delivery.done():
            delivery.cancel()

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        rereading = self._rereading_until()
        for tp in revoked:
            rereading.pop(tp, None)
        forgotten = {
            tp: (list(self._acked.get(tp, ())), self._committed_offset.get(tp)) for tp in revoked
        }
        waits = self._on_partitions_revoked

        async def remembered_then_wait(partitions: set[TP]) -> None:
            for tp, (acked, committed) in forgotten.items():
                index = self._acked_index[tp]
                self._acked[tp].extend(offset for offset in acked if offset not in index)
                index.update(acked)
                if committed is not None and self._committed_offset.get(tp) is None:
                    self._committed_offset[tp] = committed
            await waits(partitions)

        self._on_partitions_revoked = remembered_then_wait
        try:
            await super().on_partitions_revoked(revoked)
        finally:
            self._on_partitions_revoked = waits

    def sought(self, committed: Mapping[TP, int | None]) -> None:
        """The partitions are read from these committed offsets now: acknowledgements of
        offsets before them (this member's, from before a revoke) are of committed records."""
        rereading = self._rereading_until()
        for tp, offset in committed.items():
            tp = TP(tp.topic, tp.partition)
            rereading.pop(tp, None)  # read from the commit now, not from a hole after it
            if offset:
                self._forget_acks_before(tp, offset)

    def _forget_acks_before(self, tp: TP, offset: int) -> None:
        self._forget_acks(tp, lambda kept: kept < offset)

    def forget_acks_from(self, tp: TP, offset: int) -> None:
        """Forget the partition's acknowledgements at and after `offset`: read again from it."""
        self._forget_acks(tp, lambda kept: kept >= offset)

    def _forget_acks(self, tp: TP, forgotten: Callable[[int], bool]) -> None:
        """Drop the partition's acknowledged offsets that `forgotten` picks, from both of
        Faust's records of them (`_acked` and `_acked_index`)."""
        acked = self._acked.get(tp)
        if not acked:
            return
        dropped = [kept for kept in acked if forgotten(kept)]
        if dropped:
            acked[:] = [kept for kept in acked if not forgotten(kept)]
            self._acked_index[tp].difference_update(dropped)

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit: up to the first held one (`GuardedFaustApp.hold_commits`),
        and never past unhandled records (`_new_unheld_offset`)."""
        holds: dict[TP, CommitHold] = getattr(self.app, "commit_holds", {})  # a guarded app's
        hold = holds.get(tp)
        first = hold.first() if hold is not None else None
        acked = self._acked[tp]
        if first is None or not acked or max(acked) < first:
            return self._new_unheld_offset(tp)
        later = [offset for offset in acked if offset >= first]
        acked[:] = [offset for offset in acked if offset < first]
        try:
            return self._new_unheld_offset(tp)
        finally:
            acked.extend(later)

    def _new_unheld_offset(self, tp: TP) -> int | None:
        hole = unhandled_head(self._acked[tp], self._gap[tp], self._committed_offset[tp] or 0)
        if hole is None:
            return super()._new_offset(tp)
        first, last = hole
        if self._rereads is None:
            self._rereads = {}
        rereads = self._rereads
        times, at = rereads.get((tp, first), (0, -self.REREAD_EVERY_S))
        now = time.monotonic()
        if times >= self.REREAD_TIMES:
            return super()._new_offset(tp)
        if now - at >= self.REREAD_EVERY_S:
            rereads[(tp, first)] = (times + 1, now)
            log.warning(
                "%s:%d: offsets %d-%d were not handled, later ones were: not committing past"
                " them; reading the partition again from %d",
                tp.topic, tp.partition, first, last - 1, first,
            )  # fmt: skip
            asyncio.ensure_future(self._read_again(tp, first, last))
        return None

    async def _read_again(self, tp: TP, offset: int, handled: int) -> None:
        """Read `tp` again from `offset`, the first unhandled one; `handled` is the lowest
        offset handled after it, so a record is there and the fetch after the seek holds it.

        The fetch loop may still be handing out records it got before the seek, all after
        `handled`: had they gone through, its read offset would pass the unhandled records and
        it would drop them when they came again. `getmany` holds them back (they come again
        after the seek) until a record at or before `handled` shows the seek has landed, and
        moves the read offset back to just before `offset`.
        """
        rereading = self._rereading_until()
        rereading[tp] = (offset, handled)
        try:
            await self.seek(tp, offset)
        except Exception as error:  # revoked meanwhile: its new owner reads from the commit
            rereading.pop(tp, None)
            log.warning(
                "%s:%d: cannot read again from %d: %r", tp.topic, tp.partition, offset, error
            )

    def _rereading_until(self) -> dict[TP, tuple[int, int]]:
        if self._rereading is None:
            self._rereading = {}
        return self._rereading

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        """Faust's records, less those fetched before a seek back of `_read_again` landed."""
        rereading = self._rereading_until()
        async for tp, message in super().getmany(timeout):
            if rereading:
                reread = rereading.get(tp)
                if reread is not None:
                    start, handled = reread
                    if message.offset > handled:
                        continue  # fetched before the seek back: it comes again after it
                    del rereading[tp]
                    # The loop skips records before its read offset and counts offsets it
                    # jumps over as gaps (no record there): it goes back to before the seek's.
                    self._read_offset[tp] = start - 1 if start else None
            yield tp, message


class SeekSafeTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport whose seek back to committed offsets also covers partitions
    with no commit (see `seek_to_committed_or_beginning`).

    Relies on: the transport creating its consumer from its `Consumer` class attribute, and on
    `App.transport` being settable before the app's first topic is declared.
    """

    Consumer = _SeekSafeConsumer


# -- table recovery: the watchdog's view and its seek ----------------------------------------


def recovering_changelogs(
    app: faust.App,
) -> tuple[Iterable[TP], Mapping[TP, int | None], Mapping[TP, int | None]] | None:
    """The changelog partitions the table recovery is reading, the offset it applied last and
    the highwater it reads up to; None while no recovery runs.

    Relies on: `app.tables.recovery` keeping `in_recovery`, `active_tps`, `active_offsets`
    and `active_highwaters` (offsets -1 or missing where nothing was applied yet).
    """
    recovery = app.tables.recovery  # type: ignore[attr-defined]  # TableManagerT omits it
    if not recovery.in_recovery:
        return None
    return recovery.active_tps, recovery.active_offsets, recovery.active_highwaters


def not_ready_reason(app: faust.App) -> str | None:
    """Why the worker cannot process its partitions yet, or None once it can (for /ready).

    Ready means: the group assigned this worker its partitions (possibly none: a member beyond
    the partition count is ready too, or it would hold up a rolling update) and the table
    recovery of those partitions is done. A new rebalance makes it not ready again.

    Relies on: `App.rebalancing`, set by `on_rebalance_start` and cleared by
    `on_rebalance_end`; `TableManager.actives_ready`, cleared when a rebalance starts and set
    by `on_actives_ready()`, which the recovery calls once done, just before
    `on_rebalance_end()`; and the recovery's `in_recovery` while it reads changelogs.
    """
    if app.tables.recovery.in_recovery:  # type: ignore[attr-defined]  # TableManagerT omits it
        return "table recovery in progress"
    if app.rebalancing:
        return "rebalancing: waiting for the partition assignment"
    if not app.tables.actives_ready:
        return "waiting for the partition assignment"
    return None


async def fetch_position(app: faust.App, tp: TP) -> int | None:
    """Where Kafka's fetcher is in `tp` (for the log)."""
    return await app.consumer.position(tp)


async def read_changelog_from(app: faust.App, tp: TP, offset: int) -> None:
    """Resume `tp` and read it again from `offset`, as the recovery does when it starts.

    Works around: Faust 0.15.3 can lose a changelog record between the fetcher and the table
    recovery (records the fetcher delivers while the flow is stopped are dropped); the fetcher
    is then past it and the recovery waits for it for ever.

    Relies on: the consumer's `resume_partitions(tps)` and `seek_wait({tp: offset})`, and on
    the recovery skipping records at or below the offset it applied, so nothing is applied
    twice.
    """
    consumer = app.consumer
    consumer.resume_partitions({tp})
    await consumer.seek_wait({tp: offset})


# -- tables: changelog records written by the worker -----------------------------------------


# A changelog batch the worker sends itself stays below this many bytes: well under the broker's
# default message.max.bytes (1 MiB), which the changelog topics Faust creates keep. A writer
# whose batch the broker refuses as too large uses half that batch's size from then on.
CHANGELOG_BATCH_BYTES = 512 * 1024


@dataclass
class BatchSize:
    """The size of a changelog's record batches: smaller once the broker refused one as too
    large. The table's owner gives one to the writers of all its partitions, so a refusal on
    one makes them all send smaller batches, and nothing of it outlives the app."""

    bytes: int = CHANGELOG_BATCH_BYTES


# Told that the changelog refused a key's state record on its own, as too large: (key, the
# record's value, the error). It forgets the key's state before it returns (the engine may run
# at the next await) and returns what reports it, which the writer awaits before it sends the
# key's deletion in place of the record.
TooLarge = Callable[[Any, bytes, BaseException], Awaitable[None]]


class ChangelogWriter:
    """A table's local store and changelog, for writes the worker sends itself.

    Works around: `table[key] = value` sends each change through Faust's per-write send buffer
    and table sensors, and `producer.send` still costs a future, a metadata check and a
    serializer chain per record: together several times more than detection. The worker
    writes the store and sends the changelog records itself, one record per key as Faust does
    (so log compaction keeps each key's last state, and Faust's table recovery reads them
    unchanged), serialized as Faust serializes table writes (a deletion is a record without
    value), packed into record batches of at most `batch_bytes` (`CHANGELOG_BATCH_BYTES`, or
    less once the broker refused one as too large: see `_delivered`) that go to the
    producer's accumulator whole (`send`), and records the changelog offset the store holds
    as Faust does after each write, so a RocksDB store reads only the changelog's tail on
    recovery. Reads go to the store without the table's wrapper (`reader`), whose miss path
    raises and catches a KeyError and calls the table sensors on every get. A single record
    the broker refuses as too large goes to `too_large`, and the key's deletion in its place.
    The memory store learns the partition of each key written here (`keep`), as its changelog
    recovery does, so that after a rebalance it drops the keys of partitions that moved away.

    Relies on: `Table.data` (the partitioned local store; the memory store keeps its items in
    the dict `Store.data`, and each key's partition in the dict `Store._key_partition`, whose
    keys of partitions no longer assigned its `on_recovery_completed` deletes), the changelog
    topic's `prepare_key` / `prepare_value` with the table's `key_serializer` /
    `value_serializer` (what `Channel.as_future_message` uses; with Faust's "json" codec both
    are `faust.utils.json.dumps`, which is orjson with `OPT_NON_STR_KEYS | OPT_UTC_Z`), the
    store's `_decode_key(bytes)` (how the store reads a key back) and
    `set_persisted_offset(tp, offset)`, and the Faust producer's aiokafka producer
    (`Producer._ensure_producer()`), its `BatchBuilder(size, compression)` with its
    accumulator's `_compression_type`, and `send_batch(batch, topic, partition=)`, whose
    future gives the batch's base offset (a refusal as too large raises aiokafka's
    `MessageSizeTooLargeError` from it). Write as the partition (`partition_current`): a
    RocksDB store writes to the database of the current event's partition.
    """

    def __init__(
        self,
        table: faust.Table,
        batch_size: BatchSize | None = None,
        too_large: TooLarge | None = None,
    ) -> None:
        self.table = table
        self.store = table.data
        changelog = table.changelog_topic
        self.topic = changelog.get_topic_name()
        self.batch_size = BatchSize() if batch_size is None else batch_size
        self.too_large = too_large
        self._prepare_key = changelog.prepare_key
        self._prepare_value = changelog.prepare_value
        self._json = table.key_serializer == "json" and table.value_serializer == "json"
        store = self.store
        self._key_partition: MutableMapping[Any, int] | None = (
            store._key_partition if isinstance(store, MemoryStore) else None
        )

    @property
    def batch_bytes(self) -> int:
        """The size of the changelog's record batches (`BatchSize`)."""
        return self.batch_size.bytes

    def reader(self) -> Callable[[Any, Any], Any]:
        """`get(key, default)` on the local store, as `table.get` reads it minus the wrapper."""
        store = self.store
        if isinstance(store, MemoryStore):
            return store.data.get
        return store.get

    def keep(self, partition: int, key: Any, value: Any) -> None:
        """Store `value` under `key`, a key of changelog partition `partition`, locally.

        The memory store is told the key's partition: Faust records it only for keys its
        recovery read, and after a rebalance drops only those of partitions no longer
        assigned. Without it a key written here would stay in memory once its partition moved
        away, and come back stale if the partition returned after its new owner deleted it.
        A RocksDB store keeps each partition in a database of its own."""
        self.store[key] = value
        if self._key_partition is not None:
            self._key_partition[key] = partition

    def keep_all(self, partition: int, values: Mapping[Any, Any]) -> None:
        """`keep` for every key of `values` at once: the memory store's dicts are updated
        whole, with no method call per key."""
        if self._key_partition is None:
            for key, value in values.items():
                self.store[key] = value
            return
        self.store.data.update(values)
        self._key_partition.update(dict.fromkeys(values, partition))

    def forget(self, key: Any) -> None:
        """Delete `key` from the local store, if it is there."""
        with suppress(KeyError):  # never stored
            del self.store[key]
        if self._key_partition is not None:
            self._key_partition.pop(key, None)

    def snapshot(self, value: Any, payload: bytes | None) -> Any:
        """`value` as of now, for a store write that comes later, given its serialized
        `payload`: the memory store keeps the engine's own object (it is lost with the process;
        recovery reads the changelog's records), a persistent store a copy, so that it never
        holds a later state than the changelog record of its batch."""
        if isinstance(self.store, MemoryStore) or payload is None:
            return value
        return orjson.loads(payload) if self._json else copy.deepcopy(value)

    @property
    def serializer(self) -> Callable[[Any], bytes] | None:
        """How a value is serialized for the changelog, when the table's codec is Faust's
        "json" (`changelog_json`): a value given as bytes already serialized by it is written
        as it is (`record`)."""
        return changelog_json if self._json else None

    def record(self, key: Any, value: Any) -> tuple[bytes, bytes | None]:
        """The changelog record's key and value for `key` set to `value` (None: deleted; bytes:
        already serialized by `serializer`)."""
        if self._json:
            if value is None or type(value) is bytes:
                return changelog_json(key), value
            return changelog_json(key), changelog_json(value)
        table = self.table
        payload = None
        if value is not None:
            payload, _ = self._prepare_value(value, table.value_serializer)
        serialized, _ = self._prepare_key(key, table.key_serializer)
        return serialized, payload

    async def send(
        self, producer: Any, partition: int, records: list[tuple[bytes, bytes | None]]
    ) -> list[Awaitable[int]]:
        """Queue `records` (from `record`) to the changelog partition, in order, in as few
        record batches of at most `batch_bytes` as fit; returns awaitables of each batch's
        last offset. A batch the broker refuses as too large is sent again smaller when
        awaited (`_delivered`)."""
        aio = producer._ensure_producer()
        sent: list[Awaitable[int]] = []
        batch: list[tuple[bytes, bytes | None]] = []
        builder = _new_batch(aio, self.batch_bytes)
        for key, value in records:
            if builder.append(timestamp=None, key=key, value=value) is None:
                sent.append(await self._send_batch(aio, builder, producer, partition, batch))
                builder, batch = _new_batch(aio, self.batch_bytes), []
                builder.append(timestamp=None, key=key, value=value)  # the first always fits
            batch.append((key, value))
        if batch:
            sent.append(await self._send_batch(aio, builder, producer, partition, batch))
        return sent

    async def _send_batch(
        self, aio: Any, builder: Any, producer: Any, partition: int, batch: list
    ) -> Awaitable[int]:
        builder.close()
        future = await aio.send_batch(builder, self.topic, partition=partition)
        return self._delivered(future, producer, partition, batch)

    async def _delivered(
        self, delivery: Awaitable[Any], producer: Any, partition: int, batch: list
    ) -> int:
        """The last offset of `batch` once in Kafka. If the broker refuses it as larger than
        the topic's (or its own) message limit, its records go again in batches of half its
        size, down to single records, and later batches use that size: each key is in a
        pipelined batch's records once, and the next batch's records go only once these
        landed, so each key's records still land in order. A single state record still
        refused goes to `too_large`, and the key's deletion in its place (`_refused`)."""
        try:
            metadata = await delivery
        except (MessageSizeTooLargeError, RecordListTooLargeError) as error:
            if len(batch) == 1:
                return await self._refused(producer, partition, batch[0], error)
            self._shrink(sum(len(key) + len(value or b"") for key, value in batch) // 2)
            resent = await self.send(producer, partition, batch)
            return max([await delivered for delivered in resent])
        return metadata.offset + len(batch) - 1

    async def _refused(
        self, producer: Any, partition: int, record: tuple[bytes, bytes | None], error: Exception
    ) -> int:
        """One record larger than the limit: without `too_large` (or for a deletion, which
        never is) it fails its batch, as Faust's own send would fail it. With it, the key's
        state is given up: reported, then deleted from the changelog too, so that a restart
        recovers what the worker holds (the key's last record there would be older)."""
        key, value = record
        if self.too_large is None or value is None:
            raise error
        await self.too_large(self.key_of(key), value, error)
        deleted = await self.send(producer, partition, [(key, None)])
        return await deleted[0]

    def key_of(self, serialized: bytes) -> Any:
        """The key of a changelog record, as the table's store reads it back."""
        return self.store._decode_key(serialized)  # type: ignore[attr-defined]  # StoreT omits it

    def _shrink(self, size: int) -> None:
        if size < self.batch_bytes:
            self.batch_size.bytes = size
            log.warning(
                "changelog %s refused a record batch as too large (max.message.bytes): "
                "sending its records again and changelog batches of at most %d bytes from now",
                self.topic,
                size,
            )

    def persisted(self, partition: int, offset: int) -> None:
        """Record that the store holds the changelog partition up to `offset`."""
        self.store.set_persisted_offset(TP(self.topic, partition), offset)


def changelog_json(value: Any) -> bytes:
    """Faust's "json" codec (orjson with `OPT_NON_STR_KEYS | OPT_UTC_Z`), byte for byte, in
    bytes of their own size: a batch's records are kept until they are written (`kept_json`).

    Tried first without `OPT_NON_STR_KEYS`, which costs a third more per record even where
    every key is text (engine.py's records, the built-in detectors' state; measured on the
    replay corpus's records, 700 against 940 ns): a value with another key type is refused
    there and serialized again with it."""
    try:
        return kept_json.dumps(value, default=faust_json.on_default, option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:
        return kept_json.dumps(
            value,
            default=faust_json.on_default,
            option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z,
        )


def _new_batch(aio: Any, size: int) -> BatchBuilder:
    """An empty record batch of up to `size` bytes, compressed as the producer compresses:
    its own batch size (16 KiB by default) holds only a few dozen state records."""
    compression = aio._message_accumulator._compression_type
    return BatchBuilder(size, compression, is_transactional=False)
