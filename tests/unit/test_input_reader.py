"""Stage 1's reader: how it holds a batch, and that it commits only what it published."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.input_reader import INPUT_BATCH_MAX, InputReader

TP0 = TopicPartition("events", 0)
TP1 = TopicPartition("events", 1)


def _record(tp: TopicPartition, offset: int, value: bytes = b"{}") -> ConsumerRecord:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"k", value, None, 1, 2, ())


class _Consumer:
    """aiokafka's consumer as the reader uses it: `getmany` answers from a script, each answer
    after its delay; `commit` and `highwater` are recorded."""

    def __init__(self, script: list[tuple[float, dict]], log: list) -> None:
        self.script = script
        self.log = log
        self.asked: list[int] = []  # max_records of each getmany

    async def getmany(self, timeout_ms: int, max_records: int) -> dict:
        self.asked.append(max_records)
        if not self.script:
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        delay, records = self.script[0]
        if delay > timeout_ms / 1000:
            await asyncio.sleep(timeout_ms / 1000)
            self.script[0] = (delay - timeout_ms / 1000, records)
            return {}
        await asyncio.sleep(delay)
        self.script.pop(0)
        return records

    async def commit(self, offsets: dict) -> None:
        self.log.append(("commit", offsets))

    def highwater(self, tp: TopicPartition) -> int:
        return 10


class _Stage:
    """RouteStage as the reader drives it."""

    def __init__(self, log: list) -> None:
        self.log = log

    def handle(self, records: list) -> None:
        self.log.append(("handle", [record.offset for record in records]))

    async def publish(self, send: Any) -> None:
        self.log.append(("publish",))


async def _no_failure(error: BaseException) -> None:
    raise AssertionError(error)


def _reader(log: list, hold_ms: int = 20) -> InputReader:
    settings = WorkerSettings(app_id="app-reader", batch_hold_ms=hold_ms)
    stage: Any = _Stage(log)
    return InputReader(settings, stage, FrictionMetrics(set()), _no_failure, send=lambda: None)


def test_a_batch_is_held_from_its_first_record_for_what_arrives_meanwhile() -> None:
    async def scenario() -> tuple[dict, list]:
        consumer = _Consumer(
            [(0.005, {TP0: [_record(TP0, 1)]}), (0.005, {TP1: [_record(TP1, 7)]}),
             (0.5, {TP0: [_record(TP0, 2)]})],
            [],
        )  # fmt: skip
        batch = await _reader([])._held(consumer, {TP0: [_record(TP0, 0)]})  # type: ignore[arg-type]
        return batch, consumer.script

    batch, left = asyncio.run(scenario())

    assert {tp: [r.offset for r in records] for tp, records in batch.items()} == {
        TP0: [0, 1],
        TP1: [7],
    }
    assert len(left) == 1  # the record 0.5 s on waits for the next batch


def test_a_full_batch_is_not_held() -> None:
    async def scenario() -> list[int]:
        consumer = _Consumer([(0.0, {TP0: [_record(TP0, 1)]})], [])
        first = {TP0: [_record(TP0, offset) for offset in range(INPUT_BATCH_MAX)]}
        await _reader([], hold_ms=100)._held(consumer, first)  # type: ignore[arg-type]
        return consumer.asked

    assert asyncio.run(scenario()) == []


def test_a_batch_is_published_before_its_offsets_are_committed() -> None:
    async def scenario() -> list:
        log: list = []
        consumer = _Consumer([], log)
        batch = {
            TP0: [_record(TP0, 4), _record(TP0, 5)],
            TP1: [_record(TP1, 9)],
        }
        await _reader(log)._route(consumer, batch)  # type: ignore[arg-type]
        return log

    assert asyncio.run(scenario()) == [
        ("handle", [4, 5]), ("handle", [9]), ("publish",), ("commit", {TP0: 6, TP1: 10}),
    ]  # fmt: skip


def test_a_batch_read_across_a_rebalance_is_read_again_where_still_assigned() -> None:
    """Its records may come from after the new assignment, and the consumer past them: had
    the reader only dropped them, they were never read (one test in a run lost two partitions'
    input that way)."""

    async def scenario() -> tuple[list, list]:
        log: list = []
        reader = _reader(log)
        seeks: list = []

        class _Rebalancing(_Consumer):
            async def getmany(self, timeout_ms: int, max_records: int) -> dict:
                reader._rebalances += 1  # a revoke and a new assignment while it fetched
                return {TP0: [_record(TP0, 3), _record(TP0, 4)], TP1: [_record(TP1, 8)]}

            def assignment(self) -> set:
                return {TP0}

            def seek(self, tp: TopicPartition, offset: int) -> None:
                seeks.append((tp, offset))

        await reader._read_batch(_Rebalancing([], log))  # type: ignore[arg-type]
        return log, seeks

    log, seeks = asyncio.run(scenario())

    assert log == []  # nothing routed, nothing committed
    assert seeks == [(TP0, 3)]


class _Assigning(_Consumer):
    """A consumer whose group is still assigning: aiokafka's `getmany` waits without a
    timeout until the assignment comes (a member gone without leaving holds it for a session
    timeout)."""

    async def getmany(self, timeout_ms: int, max_records: int) -> dict:
        await asyncio.Event().wait()
        return {}


def test_a_stop_while_the_group_assigns_ends_the_wait_at_once() -> None:
    async def scenario() -> tuple[bool, list]:
        log: list = []
        reader = _reader(log)
        reading = asyncio.create_task(reader._read_batch(_Assigning([], log)))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        await reader.stop()  # no batch in hand: nothing to wait for
        done, _ = await asyncio.wait({reading}, timeout=5)
        return reading in done and reading.exception() is None, log

    ended, log = asyncio.run(scenario())

    assert ended
    assert log == []  # nothing routed, nothing committed


def test_a_cancelled_reader_is_cancelled_even_while_the_group_assigns() -> None:
    async def scenario() -> bool:
        reader = _reader([])
        reading = asyncio.create_task(reader._read_batch(_Assigning([], [])))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        reading.cancel()
        await asyncio.wait({reading}, timeout=5)
        return reading.cancelled()

    assert asyncio.run(scenario())
