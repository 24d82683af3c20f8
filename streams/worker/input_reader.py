"""Stage 1's reader: the input topics in batches from aiokafka's consumer, not a Faust agent.

Faust's path for each message (fetch loop, conductor, stream, event, acknowledgement
bookkeeping) cost the bare Faust agent about 40x what aiokafka's `getmany` costs on the same
topic (`bench/peer`: aiokafka / faust-agent), and stage 1 keeps no state, so it needs nothing
Faust adds. The reader takes a batch from `getmany` (at most `INPUT_BATCH_MAX` records, held
`batch_hold_ms` from its first record, so per-event input still routes in batches), runs it
through `RouteStage` (route.py), sends its routed messages and dead letters with a producer of
its own (`_producer`: not the app's, which stage 2's changelog records and findings use) and
waits for the broker, and only then commits the batch's offsets: an input offset
is never committed ahead of what it routed, and after a crash the next reader routes the batch
again (stage 2 skips event ids it has seen). A revoke waits for the batch in hand, so its
offsets are committed before another member reads the partition; a batch read across a
rebalance is dropped unrouted, and its partitions still assigned are read again from its
first record.

Its consumer group is `<app_id>-input` (settings.py `input_group`): the app's own group
speaks Faust's assignment protocol, which a plain consumer cannot join. Where the input group
has committed nothing yet, the reader first commits to it what the app's group committed on
the input (a worker that read its input with a Faust agent before), else starts at each
partition's start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError
from aiokafka.structs import ConsumerRecord
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.backlog import committed_offsets, topic_partitions
from friction_detector.streams.worker.route import RouteStage, Send
from kafka import KafkaAdminClient, KafkaConsumer
from kafka import TopicPartition as KafkaTP
from kafka.structs import OffsetAndMetadata

log = logging.getLogger(__name__)

Batch = dict[TopicPartition, list[ConsumerRecord]]
# The most records a batch takes. Stage 2 writes each key a batch touched to the changelog once,
# so on a backlog larger batches write fewer records per input event: 4,000 against 1,000 took
# the worker, every detector, from 1.70 to 1.27 state records per event (1.15x events/s in its
# own comparison, inside the noise in a full run: docs/worker.md, Benchmark). A batch of a
# steady load is smaller: it closes at its hold.
INPUT_BATCH_MAX = 4000
# How long one `getmany` waits for a first record: also how soon a stop is noticed.
FETCH_WAIT_MS = 200
# How long a stop waits for the reader to leave its group.
STOP_TIMEOUT_S = 30.0
# How long the consumer's stop may wait for a join in flight before the reader goes without.
LEAVE_TIMEOUT_S = 10.0


class InputReader:
    """Reads, routes and commits the input in batches until `stop`; `run` is its loop."""

    def __init__(
        self,
        settings: WorkerSettings,
        stage: RouteStage,
        metrics: FrictionMetrics,
        on_failure: Callable[[BaseException], Awaitable[None]],
        group_timing: Mapping[str, int] | None = None,
        send: Callable[[], Send] | None = None,
    ) -> None:
        """`group_timing`: aiokafka's session timeout, heartbeat interval and request timeout,
        as the app's group has them, so both groups notice a lost member alike (and a join
        held for a whole session timeout does not time out on the client)."""
        self.settings = settings
        self.group_timing = dict(group_timing or {})
        self.stage = stage
        # Its producer's send (`run` starts the producer), or the one given (tests, benches).
        self.send: Callable[[], Send] = send if send is not None else self._not_started
        self._own_producer = send is None
        self.metrics = metrics
        self.on_failure = on_failure  # a batch that could not be published: stop the worker
        self.hold_s = settings.batch_hold_ms / 1000
        self.group = settings.input_group
        self._consumer: AIOKafkaConsumer | None = None
        self._in_hand = asyncio.Lock()  # a batch from its routing to its commit
        self._rebalances = 0  # revokes so far: a batch read before one is read again instead
        self._stopping = False
        self._stopped = asyncio.Event()
        # The `getmany` waiting for a batch's first record (or for the group's assignment,
        # which aiokafka waits for without a timeout): no batch is in hand, so a stop cancels it.
        self._waiting: asyncio.Future[Batch] | None = None

    @property
    def sending(self) -> bool:
        """Whether `send` works: its producer has started, or one was given."""
        return self.send != self._not_started

    def assignment(self) -> set[TopicPartition]:
        """The input partitions this worker reads now."""
        consumer = self._consumer
        return set(consumer.assignment()) if consumer is not None else set()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            group_id=self.group,
            client_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self.group_timing,
            **self.settings.aiokafka_config(),
        )
        consumer.subscribe(self.settings.input_topics, listener=_Rebalance(self))
        producer = self._producer() if self._own_producer else None
        failure: Exception | None = None
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._seed)
            if producer is not None:
                await producer.start()
                self.send = producer_send(producer)
            await consumer.start()
            self._consumer = consumer
            while not self._stopping:
                await self._read_batch(consumer)
        except Exception as error:
            failure = error
        finally:
            self._consumer = None
            await self._leave(consumer)
            if producer is not None:
                await producer.stop()
            self._stopped.set()
        if failure is not None:  # the worker stops; it has left the group already
            log.error("input reader failed: %r", failure, exc_info=failure)
            await self.on_failure(failure)

    async def _leave(self, consumer: AIOKafkaConsumer) -> None:
        """Stop the consumer, which leaves the group: its partitions go to the other members.
        A join still in flight (the group waiting out a member gone without leaving) would
        hold the stop for a session timeout: after `LEAVE_TIMEOUT_S` the reader goes without,
        and the broker drops it from the group at its session timeout."""
        try:
            await asyncio.wait_for(consumer.stop(), LEAVE_TIMEOUT_S)
        except TimeoutError:
            log.warning(
                "input: the consumer did not leave its group within %.0f s", LEAVE_TIMEOUT_S
            )

    def _producer(self) -> AIOKafkaProducer:
        """Stage 1's own producer: the app's (Faust's) sends stage 2's changelog records and
        findings, and aiokafka's producer has one request in flight per broker with one batch
        per partition in it, so the two stages' sends waited for each other, and together made
        requests of up to 1.8 MiB, which a broker allocates as humongous G1 buffers."""
        timeout = self.group_timing.get("request_timeout_ms")
        return AIOKafkaProducer(
            client_id=f"{self.group}-producer",
            acks="all",
            **({"request_timeout_ms": timeout} if timeout else {}),
            **self.settings.aiokafka_config(),
        )

    @staticmethod
    def _not_started() -> Send:
        raise RuntimeError("the input reader's producer is not started")

    def _seed(self) -> None:
        """A new input group starts where the app's group committed the input (blocking)."""
        try:
            seeds = seed_input_group(self.settings)
        except Exception as error:
            log.warning(
                "input: cannot read the app group's committed offsets (%r): partitions the"
                " input group never committed are read from their start",
                error,
            )
            return
        for tp, offset in sorted(seeds.items()):
            log.info(
                "input %s:%d: starting at %d, where group %s committed",
                tp.topic, tp.partition, offset, self.settings.app_id,
            )  # fmt: skip

    async def stop(self) -> None:
        """Finish the batch in hand, then leave the group."""
        async with self._in_hand:
            self._stopping = True
            if self._waiting is not None:  # no batch in hand: nothing to finish
                self._waiting.cancel()
        if self._consumer is not None:
            await asyncio.wait_for(self._stopped.wait(), STOP_TIMEOUT_S)

    async def _read_batch(self, consumer: AIOKafkaConsumer) -> None:
        """Read, route, publish and commit one batch, if any input arrives soon."""
        rebalances = self._rebalances
        self._waiting = asyncio.ensure_future(
            consumer.getmany(timeout_ms=FETCH_WAIT_MS, max_records=INPUT_BATCH_MAX)
        )
        try:
            first = await self._waiting
        except asyncio.CancelledError:
            if self._stopping and not _cancelling():  # `stop` cancelled the wait
                return
            raise
        finally:
            self._waiting = None
        if not first:
            return
        async with self._in_hand:
            if self._stopping:
                return  # unrouted and uncommitted: read again by the next reader
            if rebalances != self._rebalances:
                _read_again(consumer, first)
                return
            batch = await self._held(consumer, first)
            await self._route(consumer, batch)

    async def _held(self, consumer: AIOKafkaConsumer, batch: Batch) -> Batch:
        """The batch, with what arrives until it is full or its first record `hold_s` old.

        Each `getmany` is cut off when the hold ends: once the group begins a rebalance,
        aiokafka's `getmany` waits for the next assignment, which the group gives only after
        the revoke, and the revoke waits for this batch."""
        size = sum(len(records) for records in batch.values())
        closes = time.monotonic() + self.hold_s
        while size < INPUT_BATCH_MAX:
            left = closes - time.monotonic()
            if left <= 0:
                break
            fetch = consumer.getmany(
                timeout_ms=max(1, int(left * 1000)), max_records=INPUT_BATCH_MAX - size
            )
            try:  # cancelled while it waits: records fetched meanwhile stay in the fetcher
                more = await asyncio.wait_for(fetch, left)
            except TimeoutError:
                break
            for tp, records in more.items():
                batch.setdefault(tp, []).extend(records)
                size += len(records)
        return batch

    async def _route(self, consumer: AIOKafkaConsumer, batch: Batch) -> None:
        """Route the batch, publish it, then commit it (module docstring)."""
        stage = self.stage
        for records in batch.values():
            stage.handle(records)
        await stage.publish(self.send())
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
        started = time.perf_counter()
        try:
            await consumer.commit(offsets)
        except CommitFailedError as error:  # rebalanced: the new owner routes them again
            log.warning("input offsets not committed, the group rebalanced: %r", error)
            return
        self.metrics.commit_latency.observe(time.perf_counter() - started)
        for tp, offset in offsets.items():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                lag = self.metrics.consumer_lag.labels(tp.topic, str(tp.partition))
                lag.set(max(0, highwater - offset))


def _cancelling() -> bool:
    """Whether the running task itself is being cancelled (not only what it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def producer_send(producer: AIOKafkaProducer) -> Callable[[], Send]:
    """`deliver`'s send (Faust's argument order) on an aiokafka producer, as `publish` takes
    it (the reader's own producer, and the benchmark of stage 1 alone)."""

    async def send(
        topic: str, key: bytes | None, value: bytes, partition: int, timestamp: Any, headers: Any
    ) -> Any:
        return await producer.send(topic, value, key=key, partition=partition)

    return lambda: send


def _read_again(consumer: AIOKafkaConsumer, batch: Batch) -> None:
    """A batch read across a rebalance: its records may be from before it (a partition moved
    away, or read again from the commit) or after it, when the consumer has moved past them.
    Partitions still assigned are read again from the batch's first record, which is where
    the commit is (every batch before it was committed before the revoke went on)."""
    assigned = consumer.assignment()
    for tp, records in batch.items():
        if tp in assigned:
            consumer.seek(tp, records[0].offset)


def seed_input_group(settings: WorkerSettings) -> dict[KafkaTP, int]:
    """Commit, for an input group that has committed nothing yet, the offsets the app's group
    committed on the input topics (where a worker that read its input with a Faust agent
    left off); returns them."""
    group = settings.input_group
    admin = KafkaAdminClient(client_id="friction-input-seed", **settings.client_config())
    try:
        partitions = topic_partitions(admin, settings.input_topics)
        if not partitions or committed_offsets(admin, group, partitions):
            return {}
        seeds = committed_offsets(admin, settings.app_id, partitions)
    finally:
        admin.close()
    if seeds:
        committer = KafkaConsumer(
            group_id=group, enable_auto_commit=False, **settings.client_config()
        )
        try:
            committer.assign(list(seeds))
            committer.commit({tp: OffsetAndMetadata(n, "", -1) for tp, n in seeds.items()})
        finally:
            committer.close()
    return seeds


class _Rebalance(ConsumerRebalanceListener):
    """Revokes wait for the batch in hand."""

    def __init__(self, reader: InputReader) -> None:
        self.reader = reader

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.reader._in_hand:
            self.reader._rebalances += 1

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """Nothing to do: a new input group was seeded before it joined (`seed_input_group`)."""
