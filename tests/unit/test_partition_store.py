"""A partition's state changes are sealed when their batch is finished and written once its
findings are in Kafka; meanwhile the next batch reads them, and the store never holds a later
state than the changelog record of its batch."""

from __future__ import annotations

import asyncio

import faust
import orjson
import pytest
from aiokafka.errors import MessageSizeTooLargeError
from changelog_broker import FakeAIOKafka, RefusingAIOKafka
from faust.types import TP
from friction_detector.streams.kafka.topics import partition_for
from friction_detector.streams.worker.faust_internals import partition_current
from friction_detector.streams.worker.partition_store import PartitionStore, Sealed

BROKER = "kafka://127.0.0.1:1"  # never contacted


def partition_store(app_id: str) -> tuple[faust.Table, PartitionStore]:
    """Partition 1 of a 4-partition state table, and its store."""
    app = faust.App(app_id, broker=BROKER)
    table = app.Table("engine-state", partitions=4, key_type=str, value_type=None)
    return table, PartitionStore(table, 1, 4)


def keys_of(partition: int, n: int) -> list[str]:
    keys, i = [], 0
    while len(keys) < n:
        if partition_for(f"slow_checkout\x1fs{i}".encode(), 4) == partition:
            keys.append(f"slow_checkout\x1fs{i}")
        i += 1
    return keys


def test_sealed_changes_are_read_by_the_next_batch_and_written_in_order() -> None:
    table, store = partition_store("store-seal")
    producer = FakeAIOKafka(first_offset=10)
    a, b = keys_of(1, 2)

    store[a] = {"n": 1}
    first = store.seal()  # batch 1 in flight
    record = store[a]
    record["n"] = 2  # batch 2 changes the same record in place
    store[a] = record
    del store[a]
    store[b] = {"n": 1}
    assert a not in store and store[b] == {"n": 1}
    assert a not in table.data  # nothing stored before its batch's findings are in Kafka
    second = store.seal()

    async def write() -> None:
        assert [await delivered for delivered in await store.write(first, producer)] == [10]
        assert table.data[a] == {"n": 2}  # the memory store keeps the engine's own object
        # its two records take offsets 11 and 12
        assert [await delivered for delivered in await store.write(second, producer)] == [12]

    asyncio.run(write())

    assert [(p, [(k, orjson.loads(v) if v else v) for k, v in records])
            for _, p, records in producer.batches] == [
        (1, [(orjson.dumps(a), {"n": 1})]),  # batch 1's record as it was when sealed
        (1, [(orjson.dumps(a), None), (orjson.dumps(b), {"n": 1})]),
    ]  # fmt: skip
    assert a not in table.data and table.data[b] == {"n": 1}
    assert sorted(store) == [b]


def test_a_record_given_already_serialized_is_sent_and_kept_as_it_is() -> None:
    table, store = partition_store("store-serialized")
    assert store.serializer is not None  # the table's codec is Faust's "json"
    a, b = keys_of(1, 2)
    payload = store.serializer({"s": {"n": 1}, "p": []})
    store[a] = payload  # bytes, as the compiled core writes them
    store[b] = {"n": 2}
    sealed = store.seal()
    assert sealed.records == [(orjson.dumps(a), payload), (orjson.dumps(b), b'{"n":2}')]

    async def write() -> list[int]:
        return [await sent for sent in await store.write(sealed, FakeAIOKafka(first_offset=10))]

    assert asyncio.run(write()) == [11]  # one batch of both records, its last offset
    assert table.data[a] is payload  # the memory store keeps the bytes; a restore decodes them
    assert store[a] is payload


def test_a_batch_cannot_be_written_before_the_one_sealed_before_it() -> None:
    _, store = partition_store("store-order")
    (a,) = keys_of(1, 1)
    store[a] = {"n": 1}
    store.seal()
    store[a] = {"n": 2}
    second = store.seal()

    async def write() -> None:
        await store.write(second, FakeAIOKafka(first_offset=10))

    with pytest.raises(RuntimeError, match="out of batch order"):
        asyncio.run(write())


def test_a_deleted_key_never_stored_sends_no_changelog_record() -> None:
    _, store = partition_store("store-delete")
    (a,) = keys_of(1, 1)
    store[a] = {"n": 1}
    del store[a]

    assert store.seal().records == []


def test_a_state_the_changelog_refuses_is_forgotten_everywhere_and_deleted_after_its_report():
    table, store = partition_store("store-too-large")
    big, small = keys_of(1, 2)
    happened: list[tuple] = []

    def on_too_large(skey: str, record: bytes, error: BaseException):
        happened.append(("reported", skey, orjson.loads(record), type(error)))
        del store[skey]  # as the engine forgets it

        async def delivered() -> None:
            happened.append(("delivered",))

        return delivered()

    store.on_too_large = on_too_large
    store[big] = {"v": "x" * 4096}
    store[small] = {"n": 1}
    first = store.seal()
    record = store[big]
    record["v"] += "y"  # the next batch grows it, in place
    store[big] = record
    store[small] = {"n": 2}
    second = store.seal()
    store[big] = store[big]  # and the batch after that, still pending
    producer = RefusingAIOKafka(limit=2048)

    async def write() -> None:
        for sealed in (first, second):
            for delivered in await store.write(sealed, producer):
                await delivered

    asyncio.run(write())

    sent = [
        (k, orjson.loads(v) if v else v) for _, _, records in producer.batches for k, v in records
    ]
    assert sent == [
        (orjson.dumps(small), {"n": 1}),
        (orjson.dumps(big), None),  # after its report: a crash before leaves the old state
        (orjson.dumps(small), {"n": 2}),
    ]
    reported = ("reported", big, {"v": "x" * 4096}, MessageSizeTooLargeError)
    assert happened == [reported, ("delivered",)]
    assert big not in store and big not in table.data
    assert store.seal().records == []  # nothing of it left to write
    assert dict(table.data) == {small: {"n": 2}}
    recovered: dict = {}  # what a restart reads back from the changelog
    for key, value in sent:
        recovered[orjson.loads(key)] = value
        if value is None:
            del recovered[orjson.loads(key)]
    assert recovered == dict(table.data)


def test_without_an_owner_to_report_it_a_refused_state_fails_its_batch() -> None:
    _, store = partition_store("store-too-large-alone")
    (big,) = keys_of(1, 1)
    store[big] = {"v": "x" * 4096}
    sealed = store.seal()

    async def write() -> None:
        for delivered in await store.write(sealed, RefusingAIOKafka(limit=2048)):
            await delivered

    with pytest.raises(MessageSizeTooLargeError):
        asyncio.run(write())


def test_keys_written_here_leave_the_memory_store_with_their_partition() -> None:
    """After a rebalance Faust's memory store drops the keys of partitions no longer assigned
    (`on_recovery_completed`), those it recovered and those the worker wrote alike: a key
    written here must not stay in memory once its partition moved away, nor come back stale
    if the partition returns after another owner deleted it."""
    app = faust.App("store-moved", broker=BROKER)
    table = app.Table("engine-state", partitions=4, key_type=str, value_type=None)
    stores = {p: PartitionStore(table, p, 4) for p in (1, 2)}
    (moving,), (staying,) = keys_of(1, 1), keys_of(2, 1)
    stores[1][moving] = {"n": 1}
    stores[2][staying] = {"n": 1}
    producer = FakeAIOKafka()
    changelog = table.changelog_topic.get_topic_name()

    async def write_then_rebalance() -> None:
        for store in stores.values():
            for delivered in await store.write(store.seal(), producer):
                await delivered
        assert set(table.data) == {moving, staying}
        # partition 1 moved away; Faust tells the store once recovery of the rest completed
        await table.data.on_recovery_completed({TP(changelog, 2)}, set())

    asyncio.run(write_then_rebalance())

    assert dict(table.data) == {staying: {"n": 1}}


def test_a_rocksdb_store_writes_and_deletes_a_key_in_its_own_partition_whatever_event_is_current(
    tmp_path,
) -> None:
    """The agent seals and writes a batch's partitions after handling its events, when Faust's
    current event is the last one it handled, often another partition's; a RocksDB store
    looks up, writes and deletes keys in the database of the current event's partition."""
    app = faust.App("store-rocks", broker=BROKER, store="rocksdb://", datadir=str(tmp_path))
    table = app.Table("engine-state", partitions=4, key_type=str, value_type=None)
    store = PartitionStore(table, 1, 4)
    (a,) = keys_of(1, 1)
    producer = FakeAIOKafka()

    def in_database_of(partition: int) -> bool:
        with partition_current(partition):
            return a in table.data

    async def batches() -> Sealed:
        store[a] = {"n": 1}  # handling an event of partition 1
        with partition_current(2):  # then the batch is finished after one of partition 2
            for delivered in await store.write(store.seal(), producer):
                await delivered
        assert in_database_of(1) and not in_database_of(2)
        assert store[a] == {"n": 1}
        del store[a]  # the next batch: the key expired
        with partition_current(2):
            deleted = store.seal()
            for delivered in await store.write(deleted, producer):
                await delivered
        return deleted

    deleted = asyncio.run(batches())

    assert deleted.records == [(orjson.dumps(a), None)]  # the changelog hears of it
    assert not in_database_of(1) and a not in store
