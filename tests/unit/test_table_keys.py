"""A key space's records live in its key's partition under keys of their own, and a record
written before its detector had a key space goes on where it was, under its old key."""

from __future__ import annotations

import asyncio

import faust
import pytest
from changelog_broker import FakeAIOKafka
from friction_detector.detectors.api import Detector
from friction_detector.streams.kafka.topics import partition_for
from friction_detector.streams.worker.partition_store import PartitionStore
from friction_detector.streams.worker.table_keys import TableKeys

BROKER = "kafka://127.0.0.1:1"  # never contacted
PARTITIONS = 4
SPACES = {"rage_click": "session", "error_click": "session"}


def session_moved() -> tuple[str, int, int]:
    """A session whose `rage_click` state key and `session` key hash to different partitions:
    (session, the state key's partition, the key space's)."""
    i = 0
    while True:
        session = f"s-{i}"
        old = partition_for(f"rage_click/{session}".encode(), PARTITIONS)
        new = partition_for(f"session/{session}".encode(), PARTITIONS)
        if old != new:
            return session, old, new
        i += 1


def test_a_key_spaces_record_is_kept_under_its_own_table_key_in_the_spaces_partition() -> None:
    session, _, new = session_moved()
    keys = TableKeys(SPACES, new, PARTITIONS)
    assert keys.table_key(f"rage_click/{session}") == f"session:rage_click/{session}"
    assert keys.table_key("slow_checkout/s-1") == "slow_checkout/s-1"  # no key space
    assert keys.owned(f"session:rage_click/{session}") == f"rage_click/{session}"
    assert keys.owned(f"session:error_click/{session}") == f"error_click/{session}"
    assert TableKeys(SPACES, (new + 1) % PARTITIONS, PARTITIONS).owned(
        f"session:rage_click/{session}"
    ) is None  # fmt: skip


def test_a_record_from_before_the_key_space_stays_under_its_key_in_its_partition() -> None:
    session, old, new = session_moved()
    skey = f"rage_click/{session}"
    before = TableKeys(SPACES, old, PARTITIONS)
    assert before.owned(skey) == skey  # the plain key, in the state key's own partition
    assert before.table_key(skey) == skey  # written back where it was read
    assert TableKeys(SPACES, new, PARTITIONS).owned(skey) is None


def test_a_key_held_before_and_after_by_two_partitions_of_one_memory_store_stays_two() -> None:
    """One table, two partitions: the old partition holds a session's record from before its
    detector had a key space, the key space's partition a new one of the same state key. Faust's
    memory store keeps both partitions' keys in one dict: each keeps its own record, and each
    partition lists (and would restore) only its own."""
    session, old, new = session_moved()
    skey = f"rage_click/{session}"
    app = faust.App("table-keys-moved", broker=BROKER)
    table = app.Table("engine-state", partitions=PARTITIONS, key_type=str, value_type=None)
    before = PartitionStore(table, old, PARTITIONS)  # written by a worker before the change
    producer = FakeAIOKafka()

    async def write(store: PartitionStore) -> None:
        for delivered in await store.write(store.seal(), producer):
            await delivered

    before[skey] = {"s": "before"}
    asyncio.run(write(before))
    held_before = PartitionStore(table, old, PARTITIONS, key_spaces=SPACES)
    space = PartitionStore(table, new, PARTITIONS, key_spaces=SPACES)
    assert list(held_before) == [skey] and list(space) == []
    space[skey] = {"s": "after"}
    held_before[skey] = {"s": "before, again"}  # an item routed before the change
    asyncio.run(write(space))
    asyncio.run(write(held_before))

    assert table.data[skey] == {"s": "before, again"}
    assert table.data[f"session:{skey}"] == {"s": "after"}
    restored_old = PartitionStore(table, old, PARTITIONS, key_spaces=SPACES)
    restored_new = PartitionStore(table, new, PARTITIONS, key_spaces=SPACES)
    assert dict(restored_old.items()) == {skey: {"s": "before, again"}}
    assert dict(restored_new.items()) == {skey: {"s": "after"}}


@pytest.mark.parametrize("space", ["a/b", "a:b", 7])
def test_a_key_space_that_a_table_key_could_not_carry_is_refused_where_it_is_defined(
    space,
) -> None:
    with pytest.raises(TypeError, match="key_space"):

        class Spaced(Detector):
            name = "spaced"
            description = "a detector of an odd key space"
            consumes = {}
            key_space = space

            def state_ttl_ms(self) -> int:
                return 1

            def key(self, event):
                return None

            def on_event(self, state, event, ctx) -> None:
                pass


def test_an_item_routed_before_the_key_space_makes_its_record_under_the_plain_key() -> None:
    """An item of the old routing (still in the routed topic, or from a worker of the version
    before) reaches the state key's own partition, where no record of it was: that record is
    written under the plain key, never under the key space's, which the key space's partition
    alone writes."""
    session, old, new = session_moved()
    skey = f"rage_click/{session}"
    app = faust.App("table-keys-late-item", broker=BROKER)
    table = app.Table("engine-state", partitions=PARTITIONS, key_type=str, value_type=None)
    stores = {p: PartitionStore(table, p, PARTITIONS, key_spaces=SPACES) for p in (old, new)}
    producer = FakeAIOKafka()
    stores[new][skey] = {"s": "new"}
    stores[old][skey] = {"s": "routed before"}  # no listing first: a key it never held

    async def write() -> None:
        for store in stores.values():
            for delivered in await store.write(store.seal(), producer):
                await delivered

    asyncio.run(write())
    assert table.data[skey] == {"s": "routed before"}
    assert table.data[f"session:{skey}"] == {"s": "new"}
    assert TableKeys(SPACES, old, PARTITIONS).table_key(skey) == skey


def test_a_detector_name_a_state_key_could_not_carry_is_refused_where_it_is_defined() -> None:
    with pytest.raises(TypeError, match="name has no"):

        class Colon(Detector):
            name = "acme:checkout"
            description = "a detector whose name reads as a key space"
            consumes = {}

            def state_ttl_ms(self) -> int:
                return 1

            def key(self, event):
                return None

            def on_event(self, state, event, ctx) -> None:
                pass


def session_staying() -> tuple[str, int]:
    """A session whose `rage_click` state key and `session` key hash to the same partition."""
    i = 0
    while True:
        session = f"s-{i}"
        old = partition_for(f"rage_click/{session}".encode(), PARTITIONS)
        if old == partition_for(f"session/{session}".encode(), PARTITIONS):
            return session, old
        i += 1


def test_a_record_from_before_deleted_then_made_again_is_placed_afresh_unless_in_flight() -> None:
    """A record read from its plain key stays under it while it lives, also when a batch still
    in flight made it again after its deletion; made again once its deletion is written, it is
    placed as any new record (its key space's table key, in the key space's partition)."""
    session, partition = session_staying()
    skey = f"rage_click/{session}"
    app = faust.App("table-keys-again", broker=BROKER)
    table = app.Table("engine-state", partitions=PARTITIONS, key_type=str, value_type=None)
    producer = FakeAIOKafka()

    async def write(store: PartitionStore, sealed) -> None:
        for delivered in await store.write(sealed, producer):
            await delivered

    before = PartitionStore(table, partition, PARTITIONS)
    before[skey] = {"s": 1}
    asyncio.run(write(before, before.seal()))
    store = PartitionStore(table, partition, PARTITIONS, key_spaces=SPACES)
    assert list(store) == [skey]
    del store[skey]
    deleted = store.seal()
    store[skey] = {"s": 2}  # made again by the next batch, sealed before the deletion is written
    again = store.seal()
    asyncio.run(write(store, deleted))
    asyncio.run(write(store, again))
    assert table.data[skey] == {"s": 2}  # still under the key it was read from
    del store[skey]
    asyncio.run(write(store, store.seal()))
    store[skey] = {"s": 3}
    asyncio.run(write(store, store.seal()))
    assert skey not in table.data
    assert table.data[f"session:{skey}"] == {"s": 3}
