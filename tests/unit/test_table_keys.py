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


def session_where(moved: bool) -> tuple[str, int, int]:
    """A session whose `rage_click` state key and `session` key hash to different partitions
    (`moved`) or to the same one: (session, the state key's partition, the key space's)."""
    i = 0
    while True:
        session = f"s-{i}"
        old = partition_for(f"rage_click/{session}".encode(), PARTITIONS)
        new = partition_for(f"session/{session}".encode(), PARTITIONS)
        if (old != new) == moved:
            return session, old, new
        i += 1


def state_table(app_id: str) -> faust.Table:
    app = faust.App(app_id, broker=BROKER)
    return app.Table("engine-state", partitions=PARTITIONS, key_type=str, value_type=None)


def write(store: PartitionStore, sealed=None) -> None:
    """Write a sealed batch (the store's pending changes, sealed now, by default)."""

    async def written() -> None:
        batch = store.seal() if sealed is None else sealed
        for delivered in await store.write(batch, FakeAIOKafka()):
            await delivered

    asyncio.run(written())


def define_detector(**declared) -> type[Detector]:
    """A detector class with `declared` as its class attributes, defined now."""
    body = {
        "description": "a detector of odd names",
        "consumes": {},
        "state_ttl_ms": lambda self: 1,
        "key": lambda self, event: None,
        "on_event": lambda self, state, event, ctx: None,
        **declared,
    }
    return type("Odd", (Detector,), body)


def test_a_key_spaces_record_is_kept_under_its_own_table_key_in_the_spaces_partition() -> None:
    session, _, new = session_where(moved=True)
    keys = TableKeys(SPACES, new, PARTITIONS)
    assert keys.table_key(f"rage_click/{session}") == f"session:rage_click/{session}"
    assert keys.table_key("slow_checkout/s-1") == "slow_checkout/s-1"  # no key space
    assert keys.owned(f"session:rage_click/{session}") == f"rage_click/{session}"
    assert keys.owned(f"session:error_click/{session}") == f"error_click/{session}"
    assert TableKeys(SPACES, (new + 1) % PARTITIONS, PARTITIONS).owned(
        f"session:rage_click/{session}"
    ) is None  # fmt: skip


def test_a_record_from_before_the_key_space_stays_under_its_key_in_its_partition() -> None:
    session, old, new = session_where(moved=True)
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
    session, old, new = session_where(moved=True)
    skey = f"rage_click/{session}"
    table = state_table("table-keys-moved")
    before = PartitionStore(table, old, PARTITIONS)  # written by a worker before the change
    before[skey] = {"s": "before"}
    write(before)
    held_before = PartitionStore(table, old, PARTITIONS, key_spaces=SPACES)
    space = PartitionStore(table, new, PARTITIONS, key_spaces=SPACES)
    assert list(held_before) == [skey] and list(space) == []
    space[skey] = {"s": "after"}
    held_before[skey] = {"s": "before, again"}  # an item routed before the change
    write(space)
    write(held_before)

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
        define_detector(name="spaced", key_space=space)


def test_an_item_routed_before_the_key_space_makes_its_record_under_the_plain_key() -> None:
    """An item of the old routing (still in the routed topic, or from a worker of the version
    before) reaches the state key's own partition, where no record of it was: that record is
    written under the plain key, never under the key space's, which the key space's partition
    alone writes."""
    session, old, new = session_where(moved=True)
    skey = f"rage_click/{session}"
    table = state_table("table-keys-late-item")
    stores = {p: PartitionStore(table, p, PARTITIONS, key_spaces=SPACES) for p in (old, new)}
    stores[new][skey] = {"s": "new"}
    stores[old][skey] = {"s": "routed before"}  # no listing first: a key it never held
    for store in stores.values():
        write(store)
    assert table.data[skey] == {"s": "routed before"}
    assert table.data[f"session:{skey}"] == {"s": "new"}
    assert TableKeys(SPACES, old, PARTITIONS).table_key(skey) == skey


def test_a_detector_name_a_state_key_could_not_carry_is_refused_where_it_is_defined() -> None:
    with pytest.raises(TypeError, match="name has no"):
        define_detector(name="acme:checkout")


def test_a_record_from_before_deleted_then_made_again_is_placed_afresh_unless_in_flight() -> None:
    """A record read from its plain key stays under it while it lives, also when a batch still
    in flight made it again after its deletion; made again once its deletion is written, it is
    placed as any new record (its key space's table key, in the key space's partition)."""
    session, partition, _ = session_where(moved=False)
    skey = f"rage_click/{session}"
    table = state_table("table-keys-again")
    before = PartitionStore(table, partition, PARTITIONS)
    before[skey] = {"s": 1}
    write(before)
    store = PartitionStore(table, partition, PARTITIONS, key_spaces=SPACES)
    assert list(store) == [skey]
    del store[skey]
    deleted = store.seal()
    store[skey] = {"s": 2}  # made again by the next batch, sealed before the deletion is written
    again = store.seal()
    write(store, deleted)
    write(store, again)
    assert table.data[skey] == {"s": 2}  # still under the key it was read from
    del store[skey]
    write(store)
    store[skey] = {"s": 3}
    write(store)
    assert skey not in table.data
    assert table.data[f"session:{skey}"] == {"s": 3}
