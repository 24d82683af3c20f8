"""What the workarounds of streams/worker/faust_internals.py rely on in Faust, pinned.

Each test fails if Faust (or mode, or aiokafka's driver) changes the behaviour or the private
name a workaround depends on: after an upgrade, a failure here says which workaround to look at
again, before a broker test loses records for a reason nobody sees.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections import Counter
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import faust
import faust.streams as faust_streams
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka import errors as kafka_errors
from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import ConsumerRecord
from changelog_broker import FakeAIOKafka, RefusingAIOKafka
from faust.stores.base import Store as BaseStore
from faust.stores.rocksdb import Store as RocksDBStore
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from friction_detector.streams.worker.faust_internals import (
    CHANGELOG_BATCH_BYTES,
    BatchSize,
    ChangelogWriter,
    FlowControlKeepingQueues,
    GuardedFaustApp,
    SeekSafeTransport,
    bound_fetch_waits,
    not_ready_reason,
    recovering_changelogs,
    seek_to_committed_or_beginning,
    unhandled_head,
)
from intervaltree import IntervalTree
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent, FlowControlQueue

BROKER = "kafka://127.0.0.1:1"  # never contacted: nothing here starts the app


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


# -- flow control ---------------------------------------------------------------------------


def test_stock_flow_control_still_empties_the_queues_on_resume_so_the_override_is_needed() -> None:
    async def scenario() -> int:
        flow = FlowControlEvent(initially_suspended=False)
        queue = FlowControlQueue(flow_control=flow, clear_on_resume=True)
        await queue.put("record")
        flow.suspend()
        flow.resume()
        return queue.qsize()

    assert asyncio.run(scenario()) == 0


def test_the_overriding_resume_lets_records_in_again_through_the_private_events() -> None:
    async def scenario() -> tuple[bool, bool]:
        flow = FlowControlKeepingQueues()  # initially suspended, as Faust's is
        suspended = flow.is_active()
        flow.resume()
        await asyncio.wait_for(flow.acquire(), timeout=1)  # would wait for ever if not resumed
        return suspended, flow.is_active()

    assert asyncio.run(scenario()) == (False, True)


def test_the_apps_flow_control_is_a_cached_property_faust_uses_for_every_queue() -> None:
    assert isinstance(inspect.getattr_static(faust.App, "flow_control"), cached_property)
    app = GuardedFaustApp("pin-flow", broker=BROKER)
    queue = app.FlowControlQueue(maxsize=1, clear_on_resume=True)

    assert isinstance(app.flow_control, FlowControlKeepingQueues)
    assert queue._flow_control is app.flow_control


# -- the wait for acknowledgements ----------------------------------------------------------


def test_faust_waits_for_acknowledgements_through_consumer_wait_empty_on_revoke_and_stop() -> None:
    assert parameters(faust.App._consumer_wait_empty) == ["self", "consumer", "logger"]
    revoke = inspect.getsource(faust.App._on_partitions_revoked)
    stop = inspect.getsource(faust.App._stop_consumer)
    assert "await T(self._consumer_wait_empty)(consumer, on_timeout)" in revoke
    assert "await self._consumer_wait_empty(consumer, self.log)" in stop


def test_the_hook_runs_before_faust_waits_and_can_skip_the_wait() -> None:
    class App(GuardedFaustApp):
        wait = True

        async def before_waiting_for_acks(self, logger) -> bool:
            calls.append("hook")
            return self.wait

    class Consumer:
        async def wait_empty(self) -> None:
            calls.append("wait_empty")

    calls: list[str] = []
    app = App("pin-wait", broker=BROKER)
    logger = SimpleNamespace(info=lambda *args: None)
    asyncio.run(app._consumer_wait_empty(Consumer(), logger))
    app.wait = False
    asyncio.run(app._consumer_wait_empty(Consumer(), logger))

    assert calls == ["hook", "wait_empty", "hook"]


# -- the current event ----------------------------------------------------------------------


def test_faust_current_event_reads_the_private_context_variable_of_weak_references() -> None:
    assert isinstance(faust_streams._current_event, contextvars.ContextVar)
    assert faust.current_event is faust_streams.current_event
    event = object.__new__(faust.Event)

    def inside() -> object:
        faust_streams._current_event.set(lambda: event)  # called like a weak reference
        return faust.current_event()

    assert contextvars.copy_context().run(inside) is event


# -- the seek back to committed offsets -----------------------------------------------------


def test_faust_seeks_back_through_the_driver_threads_seek_to_committed() -> None:
    perform_seek = inspect.getsource(faust_consumer.Consumer.perform_seek)
    assert "await self.seek_to_committed()" in perform_seek
    delegate = inspect.getsource(faust_consumer.ThreadDelegateConsumer.seek_to_committed)
    assert "self._thread.seek_to_committed()" in delegate
    thread = faust_aiokafka.AIOKafkaConsumerThread
    assert inspect.iscoroutinefunction(thread.seek_to_committed)
    assert parameters(thread.seek_to_committed) == ["self"]
    assert parameters(thread._ensure_consumer) == ["self"]
    assert parameters(thread.call_thread)[:2] == ["self", "fun"]
    assert parameters(faust_aiokafka.Consumer._new_consumer_thread) == ["self"]


def test_the_apps_consumer_runs_the_seek_safe_thread() -> None:
    app = GuardedFaustApp("pin-seek", broker=BROKER)

    assert isinstance(app.transport, SeekSafeTransport)
    assert type(app.consumer._thread).seek_to_committed is not (
        faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed
    )
    assert isinstance(app.consumer._thread, faust_aiokafka.AIOKafkaConsumerThread)


def test_faust_hands_each_fetched_record_to_the_streams_through_wait_first() -> None:
    """The one-task delivery (`_SeekSafeConsumer.wait_first`) takes over this call only."""
    drain = inspect.getsource(faust_consumer.Consumer._drain_messages)
    assert "await self.wait_first(\n" in drain
    assert "callback(message), self.suspend_flow.wait()" in drain
    assert faust_consumer.Event is asyncio.Event  # suspend_flow's class
    assert "self.suspend_flow = Event()" in inspect.getsource(faust_consumer.Consumer.__init__)
    stop_flow = inspect.getsource(faust_consumer.Consumer.stop_flow)
    assert "self.suspend_flow.set()" in stop_flow
    assert parameters(faust_consumer.Consumer.stop_flow) == ["self"]


def test_aiokafka_holds_a_brokers_fetch_while_fetched_records_wait_for_prefetch_backoff() -> None:
    start = inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread.on_start)
    assert "self._consumer = self._create_consumer(" in start
    assert "await self._consumer.start()" in start
    fetcher = aiokafka_fetcher.Fetcher
    assert "self._prefetch_backoff = prefetch_backoff" in inspect.getsource(fetcher.__init__)
    assert "backoff=self._prefetch_backoff" in inspect.getsource(fetcher._proc_fetch_request)
    actions = inspect.getsource(fetcher._get_actions_per_node)
    assert "record.calculate_backoff()" in actions
    assert "if node_id in backoff_by_nodes:" in actions


def test_the_consumer_thread_holds_fetches_for_unread_records_a_few_milliseconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def stock_start(thread) -> None:
        thread._consumer = SimpleNamespace(_fetcher=planning_fetcher([]))

    monkeypatch.setattr(faust_aiokafka.AIOKafkaConsumerThread, "on_start", stock_start)
    thread = GuardedFaustApp("pin-prefetch", broker=BROKER).consumer._thread

    asyncio.run(thread.on_start())

    held = thread._consumer._fetcher._prefetch_backoff
    assert held == 0.005
    unread = aiokafka_fetcher.FetchResult(
        TopicPartition("t-changelog", 0), assignment=None, partition_records=None, backoff=held
    )
    assert 0 < unread.calculate_backoff() <= held


def planning_fetcher(waits: list[int]) -> SimpleNamespace:
    """The fetcher's attributes the consumer thread sets, with stock aiokafka's values; its
    fetch plan records the wait each planned fetch would ask the broker for."""
    fetcher = SimpleNamespace(_prefetch_backoff=0.1, _fetch_max_wait_ms=1500, _records={})
    fetcher._get_actions_per_node = lambda assignment: waits.append(fetcher._fetch_max_wait_ms)
    return fetcher


def test_aiokafka_leaves_partitions_being_read_out_of_a_fetch_the_broker_holds() -> None:
    create = inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer)
    assert "fetch_max_wait_ms=1500" in create  # so the worker bounds it
    actions = inspect.getsource(aiokafka_fetcher.Fetcher._get_actions_per_node)
    assert "if tp in self._records:" in actions
    assert "self._fetch_max_wait_ms," in actions  # read as each fetch request is built
    routine = inspect.getsource(aiokafka_fetcher.Fetcher._fetch_requests_routine)
    assert "self._get_actions_per_node(assignment)" in routine


def test_a_fetch_waits_briefly_while_input_records_are_read_and_changelogs_do_not_count() -> None:
    waits: list[int] = []
    fetcher = planning_fetcher(waits)
    bound_fetch_waits(fetcher, frozenset({"app-engine-state-changelog"}), 100, 20)

    fetcher._get_actions_per_node("assignment")  # nothing fetched is unread: every partition
    fetcher._records[TopicPartition("app-engine-state-changelog", 0)] = "never read"
    fetcher._get_actions_per_node("assignment")
    fetcher._records[TopicPartition("events", 2)] = "being read"
    fetcher._get_actions_per_node("assignment")

    assert waits == [100, 100, 20]


def test_the_consumer_thread_bounds_fetch_waits_except_for_its_tables_changelogs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[int] = []

    async def stock_start(thread) -> None:
        thread._consumer = SimpleNamespace(_fetcher=planning_fetcher(waits))

    monkeypatch.setattr(faust_aiokafka.AIOKafkaConsumerThread, "on_start", stock_start)
    app = GuardedFaustApp("pin-fetch-wait", broker=BROKER)
    app.Table("state", partitions=4)
    thread = app.consumer._thread

    asyncio.run(thread.on_start())
    fetcher = thread._consumer._fetcher
    fetcher._records[TopicPartition("pin-fetch-wait-state-changelog", 1)] = "never read"
    fetcher._get_actions_per_node("assignment")
    fetcher._records[TopicPartition("events", 0)] = "being read"
    fetcher._get_actions_per_node("assignment")

    assert waits == [100, 20]


def test_partitions_without_a_commit_go_to_their_start_except_changelogs() -> None:
    committed = {TP("events", 0): 12, TP("events", 1): 0, TP("events", 2): None,
                 TP("state-changelog", 0): None}  # fmt: skip

    class AIOKafka:
        async def seek_to_committed(self):
            return committed

        async def seek_to_beginning(self, *tps):
            started.extend(tps)

    started: list = []
    result = asyncio.run(seek_to_committed_or_beginning(AIOKafka(), {"state-changelog"}))

    assert result == committed
    assert started == [TP("events", 1), TP("events", 2)]


def test_faust_commits_past_unhandled_records_where_nothing_was_committed() -> None:
    """The stock guard checks the head of the acknowledged offsets only above offset 0."""
    consumer = faust.App("pin-commit", broker=BROKER).consumer
    tp = TP("events", 0)
    consumer._acked[tp].extend(range(90, 100))  # 0-89 never handled

    assert consumer._new_offset(tp) == 100


def test_unhandled_offsets_before_the_acknowledged_ones_count_gaps_as_handled() -> None:
    gaps = IntervalTree()
    assert unhandled_head([5, 6], gaps, 0) == (0, 5)
    assert unhandled_head([5, 6], gaps, 5) is None
    assert unhandled_head([], gaps, 3) is None
    gaps.addi(0, 3)  # offsets 0-2 hold no record
    assert unhandled_head([5, 6], gaps, 0) == (3, 5)
    gaps.addi(3, 5)
    assert unhandled_head([5, 6], gaps, 0) is None


def _seek_recording_consumer(app_id: str) -> tuple[Any, list]:
    """The worker's consumer, with its seeks recorded instead of made."""
    consumer = GuardedFaustApp(app_id, broker=BROKER).consumer
    seeks: list = []

    async def seek(tp, offset):
        seeks.append((tp, offset))

    consumer.seek = seek
    return consumer, seeks


def test_the_seek_safe_consumer_reads_again_rather_than_commit_past_unhandled_records() -> None:
    async def scenario() -> tuple[int | None, list, int | None]:
        consumer, seeks = _seek_recording_consumer("pin-reread")
        tp = TP("events", 0)
        consumer._acked[tp].extend(range(90, 100))
        held = consumer._new_offset(tp)
        await asyncio.sleep(0)  # the read-again task
        consumer._acked[tp].extend(range(0, 90))  # read again and handled
        return held, seeks, consumer._new_offset(tp)

    held, seeks, committed = asyncio.run(scenario())

    assert held is None
    assert seeks == [(TP("events", 0), 0)]
    assert committed == 100


def test_a_read_again_lands_while_the_fetch_loop_still_holds_later_records() -> None:
    """Faust's own fetch loop, handing out a batch fetched before the seek back to a hole:
    those records moved its read offset past the hole, and it dropped the hole's records
    when they came again, so the hole stayed open until a later re-read, 10 s on."""

    async def scenario() -> tuple[list[int], int | None]:
        consumer, seeks = _seek_recording_consumer("pin-reread-lands")
        tp = TP("events", 0)
        for offset in range(5, 10):  # offsets 0-4 were never handled
            _ack(consumer, tp, offset)
        consumer._read_offset[tp] = 9
        fetches = [range(10, 21), range(0, 21)]  # before the seek back to 0, and after it
        stopped = asyncio.Event()

        async def fetch(active_partitions, timeout):
            if not fetches:
                stopped.set()
                return {}
            return {tp: [_record(tp, offset) for offset in fetches.pop(0)]}

        delivered: list[int] = []

        async def deliver(message) -> None:
            delivered.append(message.offset)
            if delivered == [10]:  # a commit while the loop is in the first batch
                assert consumer._new_offset(tp) is None
                await asyncio.sleep(0)  # the read-again task: its seek lands now
                assert seeks == [(tp, 0)]
            _ack(consumer, tp, message.offset)

        consumer._getmany = fetch
        consumer._get_active_partitions = lambda: {tp}
        consumer.highwater = lambda tp: 21
        consumer.callback = deliver
        await consumer._drain_messages(SimpleNamespace(_stopped=stopped))
        return delivered, consumer._new_offset(tp)

    delivered, committed = asyncio.run(scenario())

    assert delivered == [10, *range(0, 21)]
    assert committed == 21


def _record(tp: TP, offset: int) -> ConsumerRecord:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"key", b"{}", None, 3, 2, ())


def _ack(consumer, tp: TP, offset: int) -> None:
    """Record an acknowledgement as `Consumer.ack` does."""
    if offset not in consumer._acked_index[tp]:
        consumer._acked_index[tp].add(offset)
        consumer._acked[tp].append(offset)


def test_a_revoke_keeps_what_faust_forgets_for_the_commit_that_ends_it() -> None:
    """Faust forgets a revoked partition's acknowledged and committed offsets, then waits for
    the messages it handed out: their acknowledgements alone looked like offsets after a gap,
    and the partition was read again from its committed offset or from 0."""

    async def scenario() -> tuple[list, list]:
        consumer, seeks = _seek_recording_consumer("pin-revoke")
        tp = TP("events", 0)
        consumer._committed_offset[tp] = 50
        for offset in range(50, 100):
            _ack(consumer, tp, offset)
        picked: list = []

        async def finish_held_batches(revoked) -> None:  # the app's revoke handler
            for offset in range(100, 120):
                _ack(consumer, tp, offset)
            picked.append(consumer._new_offset(tp))

        consumer._on_partitions_revoked = finish_held_batches
        await consumer.on_partitions_revoked({tp})
        await asyncio.sleep(0)  # a read-again task, if one was started
        return picked, seeks

    picked, seeks = asyncio.run(scenario())

    assert picked == [120]
    assert seeks == []


def test_acknowledgements_before_the_offset_a_partition_is_sought_to_are_dropped() -> None:
    """Assigned again after another member committed further, a partition's acknowledgements
    from before its revoke would make Faust commit back behind the group's offset."""
    consumer = GuardedFaustApp("pin-sought", broker=BROKER).consumer
    tp = TP("events", 0)
    for offset in (*range(100, 110), *range(200, 205)):
        _ack(consumer, tp, offset)

    consumer.sought({tp: 200, TP("events", 1): None})
    consumer._committed_offset[tp] = 200  # as `perform_seek` records it next

    assert sorted(consumer._acked[tp]) == list(range(200, 205))
    assert consumer._acked_index[tp] == set(range(200, 205))
    assert consumer._new_offset(tp) == 205


class Held:
    """A commit hold (`CommitHold`) at a fixed offset."""

    def __init__(self, first: int | None) -> None:
        self.offset = first

    def first(self) -> int | None:
        return self.offset


def test_a_held_partition_is_committed_up_to_its_first_held_message_and_on_once_released() -> None:
    app = GuardedFaustApp("pin-held", broker=BROKER)
    consumer = app.consumer
    tp, other = TP("routed", 0), TP("routed", 1)
    for offset in range(10):
        _ack(consumer, tp, offset)
        _ack(consumer, other, offset)
    hold = Held(4)
    app.hold_commits("routed", 0, hold)

    assert consumer._new_offset(tp) == 4  # acknowledged up to 9, its items from 4 on wait
    consumer._committed_offset[tp] = 4
    assert consumer._new_offset(other) == 10  # another partition is not held
    assert consumer._new_offset(tp) is None  # nothing more until the hold moves
    _ack(consumer, tp, 10)
    hold.offset = 8
    assert consumer._new_offset(tp) == 8
    consumer._committed_offset[tp] = 8
    hold.offset = None
    assert consumer._new_offset(tp) == 11


def test_a_revoked_held_partition_forgets_its_acknowledgements_from_the_held_offset_on() -> None:
    """Its owner reads those messages again from the commit: an acknowledgement kept from before
    would let a commit pass messages not yet read again (and their items not yet waiting)."""
    app = GuardedFaustApp("pin-held-revoke", broker=BROKER)
    consumer = app.consumer
    tp = TP("routed", 2)
    for offset in range(10):
        _ack(consumer, tp, offset)
    app.hold_commits("routed", 2, Held(4))
    assert consumer._new_offset(tp) == 4
    consumer._committed_offset[tp] = 4

    app.drop_commit_hold("routed", 2)
    assert tp not in app.commit_holds
    assert consumer._acked[tp] == []
    assert consumer._acked_index[tp] == set()
    for offset in range(4, 7):  # read again after the partition is assigned back
        _ack(consumer, tp, offset)
    assert consumer._new_offset(tp) == 7


def test_faust_forgets_a_revoked_partitions_offsets_before_it_waits_for_its_messages() -> None:
    revoke = inspect.getsource(faust_consumer.Consumer.on_partitions_revoked)
    forgets = [f"self.{name}.pop(tp, None)" for name in ("_acked", "_acked_index",
                                                         "_committed_offset")]  # fmt: skip
    waits = "await T(self._on_partitions_revoked, partitions=revoked)(revoked)"
    assert all(revoke.index(line) < revoke.index(waits) for line in forgets)


def test_faust_commits_through_new_offset_and_seeks_through_seek() -> None:
    filtering = inspect.getsource(faust_consumer.Consumer._filter_committable_offsets)
    assert "self._new_offset(tp)" in filtering
    assert parameters(faust_consumer.Consumer.seek) == ["self", "partition", "offset"]
    consumer = faust.App("pin-fields", broker=BROKER).consumer
    assert isinstance(consumer._gap[TP("t", 0)], IntervalTree)
    assert consumer._committed_offset[TP("t", 0)] is None
    assert consumer._read_offset[TP("t", 0)] is None


# -- table recovery -------------------------------------------------------------------------


def test_the_recovery_keeps_partitions_offsets_and_highwaters_where_the_watchdog_reads() -> None:
    app = GuardedFaustApp("pin-recovery", broker=BROKER)
    recovery = app.tables.recovery

    assert recovery.in_recovery is False
    assert recovering_changelogs(app) is None
    recovery.in_recovery = True
    tps, offsets, highwaters = recovering_changelogs(app)
    assert isinstance(tps, set)
    assert isinstance(offsets, Counter) and isinstance(highwaters, Counter)


def test_readiness_follows_the_rebalance_the_recovery_and_the_actives_being_ready() -> None:
    app = GuardedFaustApp("pin-ready", broker=BROKER)
    at_start = not_ready_reason(app)
    app.on_rebalance_start()  # partitions assigned or revoked
    rebalancing = not_ready_reason(app)
    app.tables.recovery.in_recovery = True
    recovering = not_ready_reason(app)
    app.tables.recovery.in_recovery = False
    app.tables.on_actives_ready()  # what the recovery calls once done, then the next line
    app.on_rebalance_end()

    assert at_start == "waiting for the partition assignment"
    assert rebalancing == "rebalancing: waiting for the partition assignment"
    assert recovering == "table recovery in progress"
    assert not_ready_reason(app) is None
    app.on_rebalance_start()
    assert not_ready_reason(app) == "rebalancing: waiting for the partition assignment"


def test_the_recovery_marks_the_actives_ready_and_ends_the_rebalance_when_done() -> None:
    """Both ways a recovery ends (changelogs read, or nothing to read) call the two hooks
    readiness reads, in that order."""
    recovery = faust.tables.recovery.Recovery
    for ending in (recovery.on_recovery_completed, recovery._resume_streams):
        source = inspect.getsource(ending)
        ready = source.index("self.tables.on_actives_ready()")
        assert ready < source.index("on_rebalance_end()"), ending.__name__


def test_the_consumer_methods_the_watchdog_calls_keep_their_signatures() -> None:
    consumer = faust_aiokafka.Consumer
    assert parameters(consumer.position) == ["self", "tp"]
    assert parameters(consumer.resume_partitions) == ["self", "tps"]
    assert parameters(consumer.seek_wait) == ["self", "partitions"]
    assert inspect.iscoroutinefunction(consumer.seek_wait)


# -- changelog records written by the worker ------------------------------------------------


# Text keys only; a key of another type (a detector's state may have one), which the writer's
# first try refuses; a time, which Faust writes with a Z.
@pytest.mark.parametrize(
    "value",
    [
        {"events": [1, 2], "due": None},
        {"s": {"seen": {7: "seven", "eight": 8}}, "p": []},
        {"at": datetime(2026, 12, 5, 8, 0, tzinfo=UTC)},
    ],
)
def test_changelog_records_are_serialized_as_faust_serializes_table_writes(value: dict) -> None:
    app = faust.App("pin-changelog", broker=BROKER)
    table = app.Table("engine-state", partitions=4, key_type=str, value_type=None)
    changelog = table.changelog_topic
    writer = ChangelogWriter(table)

    async def faust_record(val, **serializer) -> tuple:
        message = changelog.as_future_message(
            key="checkout/s1", value=val, partition=0,
            key_serializer=table.key_serializer, **serializer,
        ).message  # fmt: skip
        return message.key, message.value

    written = asyncio.run(faust_record(value, value_serializer=table.value_serializer))
    # what Faust's `del table[key]` sends:
    deleted = asyncio.run(faust_record(None, value_serializer="raw"))

    assert writer.topic == "pin-changelog-engine-state-changelog"
    assert writer.store is table.data
    assert writer.record("checkout/s1", value) == written
    assert writer.record("checkout/s1", None) == deleted == (deleted[0], None)
    assert writer.key_of(written[0]) == "checkout/s1"  # as the store reads a key back


def test_the_memory_store_keeps_its_items_in_a_dict_the_reader_reads() -> None:
    app = faust.App("pin-reader", broker=BROKER)
    table = app.Table("t", partitions=1, key_type=str, value_type=None)
    table.data["k"] = {"x": 1}

    get = ChangelogWriter(table).reader()

    assert isinstance(table.data.data, dict)
    assert get("k", None) == {"x": 1}
    assert get("missing", "default") == "default"


def test_changelog_records_go_in_order_in_record_batches_and_give_their_last_offsets() -> None:
    app = faust.App("pin-batches", broker=BROKER)
    table = app.Table("engine-state", partitions=4, key_type=str, value_type=None)
    writer = ChangelogWriter(table)
    aio = FakeAIOKafka()
    producer = SimpleNamespace(_ensure_producer=lambda: aio)
    big = "x" * 100_000  # 6 such records fill a 512 KiB batch
    records = [writer.record(f"k{i}", {"v": big}) for i in range(12)]
    records.append(writer.record("gone", None))

    async def run() -> list[int]:
        deliveries = await writer.send(producer, 3, records)
        return [await delivered for delivered in deliveries]

    last_offsets = asyncio.run(run())

    sent = [record for _, _, batch in aio.batches for record in batch]
    assert sent == records  # every record, in order, a deletion without value
    assert {(topic, p) for topic, p, _ in aio.batches} == {(writer.topic, 3)}
    assert len(aio.batches) > 1  # split before the batch limit
    assert all(
        sum(len(k) + len(v or b"") for k, v in batch) <= CHANGELOG_BATCH_BYTES
        for _, _, batch in aio.batches
    )
    assert last_offsets[-1] == 100 + len(records) - 1
    assert last_offsets == sorted(last_offsets)


def _sized_writer(name: str, batch_size: BatchSize | None = None) -> ChangelogWriter:
    app = faust.App(name, broker=BROKER)
    table = app.Table("engine-state", partitions=4, key_type=str, value_type=None)
    return ChangelogWriter(table, batch_size)


def _send_all(writer: ChangelogWriter, aio, records: list) -> list[int]:
    producer = SimpleNamespace(_ensure_producer=lambda: aio)

    async def run() -> list[int]:
        deliveries = await writer.send(producer, 1, records)
        return [await delivered for delivered in deliveries]

    return asyncio.run(run())


def test_a_batch_refused_as_too_large_goes_again_in_halves_and_later_batches_stay_small(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = _sized_writer("pin-refused")
    aio = RefusingAIOKafka(limit=16 * 1024)
    records = [writer.record(f"k{i}", {"v": "x" * 300, "i": i}) for i in range(600)]
    records.append(writer.record("gone", None))

    with caplog.at_level(logging.WARNING):
        last_offsets = _send_all(writer, aio, records)

    landed = [record for _, _, batch in aio.batches for record in batch]
    assert Counter(landed) == Counter(records)  # every record once: a refused batch lands none
    assert aio.refused >= 1
    assert writer.batch_bytes < 16 * 1024  # remembered for the rest of the run
    assert max(last_offsets) == 100 + len(records) - 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all(writer.topic in w and "too large" in w for w in warnings)
    assert len(warnings) == len(set(warnings)) <= 6  # once per size, not once per batch

    refused_before, landed_before = aio.refused, len(aio.batches)
    later = [writer.record(f"k{i}", {"v": "y", "i": i}) for i in range(600)]
    _send_all(writer, aio, later)  # the next pipelined batch: sent once the first landed

    assert aio.refused == refused_before  # no refusal any more
    last = {key: value for _, _, batch in aio.batches for key, value in batch}
    assert [(key, last[key]) for key, _ in later] == later  # each key's records in order
    assert len(aio.batches) - landed_before > 1


def test_a_single_record_larger_than_the_limit_fails_as_faust_would_fail_it() -> None:
    writer = _sized_writer("pin-too-big")
    aio = RefusingAIOKafka(limit=1024)
    records = [writer.record("small", {"v": 1}), writer.record("huge", {"v": "x" * 4096})]

    with pytest.raises(MessageSizeTooLargeError):
        _send_all(writer, aio, records)

    assert [r for _, _, batch in aio.batches for r in batch] == records[:1]


def test_a_refused_batch_size_is_shared_by_the_writers_given_it_and_by_no_other_app() -> None:
    shared = BatchSize()
    writer, partner = _sized_writer("pin-shared", shared), _sized_writer("pin-shared", shared)
    other_app = _sized_writer("pin-shared")  # same app id and table, in the same process
    records = [writer.record(f"k{i}", {"v": "x" * 300}) for i in range(100)]

    _send_all(writer, RefusingAIOKafka(limit=8 * 1024), records)

    assert partner.batch_bytes == writer.batch_bytes < 8 * 1024
    assert other_app.batch_bytes == CHANGELOG_BATCH_BYTES


def test_a_single_record_refused_is_reported_and_its_key_deleted_in_its_place() -> None:
    reported: list[tuple] = []

    async def too_large(key, value: bytes, error: BaseException) -> None:
        reported.append((key, value, type(error), len(aio.batches)))

    writer = _sized_writer("pin-too-big-reported")
    writer.too_large = too_large
    aio = RefusingAIOKafka(limit=1024)
    small, huge, after = (
        writer.record("small", {"v": 1}),
        writer.record("huge", {"v": "x" * 4096}),
        writer.record("after", {"v": 2}),
    )

    last_offsets = _send_all(writer, aio, [small, huge, after])

    landed = [record for _, _, batch in aio.batches for record in batch]
    assert landed == [small, after, (huge[0], None)]  # each key's last record is what it holds
    assert reported == [("huge", huge[1], MessageSizeTooLargeError, 2)]  # before the deletion
    assert max(last_offsets) == 100 + 2


def test_aiokafkas_batch_api_the_changelog_writer_uses_keeps_its_shape() -> None:
    assert parameters(AIOKafkaProducer.send_batch) == ["self", "batch", "topic", "partition"]
    assert inspect.iscoroutinefunction(AIOKafkaProducer.send_batch)
    assert "return future" in inspect.getsource(AIOKafkaProducer.send_batch)
    assert kafka_errors.for_code(10) is MessageSizeTooLargeError  # MESSAGE_TOO_LARGE
    assert kafka_errors.for_code(18) is RecordListTooLargeError

    async def scenario() -> tuple[int, BaseException | None, bool]:
        producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", compression_type="gzip")
        accumulator = producer._message_accumulator
        builder = BatchBuilder(1024, accumulator._compression_type, is_transactional=False)
        assert builder.append(timestamp=None, key=b"k", value=b"v" * 2048) is not None
        second = builder.append(timestamp=None, key=b"k2", value=b"v")  # full: refused
        builder.close()
        tp = TopicPartition("t", 0)
        delivery = await accumulator.add_batch(builder, tp, 1)
        accumulator._batches[tp][0].done(base_offset=41)
        offset = (await delivery).offset
        refused_builder = BatchBuilder(1024, accumulator._compression_type, is_transactional=False)
        refused_builder.append(timestamp=None, key=b"k", value=b"v")
        refused_builder.close()
        accumulator._batches[tp].clear()
        refused = await accumulator.add_batch(refused_builder, tp, 1)
        accumulator._batches[tp][0].failure(exception=MessageSizeTooLargeError())
        error = None
        try:
            await refused
        except MessageSizeTooLargeError as exc:
            error = exc
        await producer.stop()  # never started: nothing to flush
        return offset, error, second is None

    offset, error, full = asyncio.run(scenario())

    assert offset == 41  # the delivery gives the batch's base offset
    assert isinstance(error, MessageSizeTooLargeError)
    assert full  # the first record always fits; the next one only within the size


def test_faust_deletes_with_a_raw_none_value_and_stores_take_the_persisted_offset() -> None:
    assert 'value=None, value_serializer="raw"' in inspect.getsource(faust.Table.on_key_del)
    assert parameters(BaseStore.set_persisted_offset) == ["self", "tp", "offset"]
    assert parameters(RocksDBStore.set_persisted_offset) == ["self", "tp", "offset"]
    app = faust.App("pin-store", broker=BROKER)
    table = app.Table("t", partitions=1, key_type=str, value_type=None)
    persisted: list = []
    table.data.set_persisted_offset = lambda tp, offset: persisted.append((tp, offset))

    ChangelogWriter(table).persisted(0, 41)

    assert persisted == [(TP("pin-store-t-changelog", 0), 41)]


# -- what the worker uses as it is ----------------------------------------------------------


def test_the_producers_send_takes_the_positional_arguments_the_worker_passes() -> None:
    assert parameters(faust_aiokafka.Producer.send)[:7] == [
        "self", "topic", "key", "value", "partition", "timestamp", "headers",
    ]  # fmt: skip


def test_a_streams_events_come_from_its_channels_queue_which_batches_watch() -> None:
    async def scenario() -> tuple[object, bool]:
        app = faust.App("pin-stream", broker=BROKER)
        stream = app.stream(app.channel())
        channel = aiter(stream.channel)
        stream.channel.queue.put_nowait("event")
        received = await channel.__anext__()
        return received, stream.channel.queue.empty()

    assert asyncio.run(scenario()) == ("event", True)


def test_the_sensor_hooks_of_the_kafka_sensor_keep_their_signatures() -> None:
    assert parameters(faust.Sensor.on_message_in) == ["self", "tp", "offset", "message"]
    assert parameters(faust.Sensor.on_commit_initiated) == ["self", "consumer"]
    assert parameters(faust.Sensor.on_commit_completed) == ["self", "consumer", "state"]
    assert parameters(faust_aiokafka.Consumer.highwater) == ["self", "tp"]
