"""A routed partition's slice of the worker's state table, as the engine's store."""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import faust
from friction_detector.streams.kafka.topics import partition_for
from friction_detector.streams.worker.faust_internals import (
    BatchSize,
    ChangelogWriter,
    partition_current,
)
from friction_detector.streams.worker.table_keys import TableKeys

# The partition's owner, told that the changelog refused a key's state as too large: (state
# key, the record, the error). It forgets the key in the engine and returns what reports it.
StateTooLarge = Callable[[str, bytes, BaseException], Awaitable[None]]


class _Deleted(enum.Enum):
    """A key deleted in this batch, until `seal`: an enum member, so `is` narrows its type."""

    DELETED = enum.auto()


_DELETED: Final = _Deleted.DELETED


def own_key(prefix: str, partition: int, partitions: int) -> str:
    """A key of `partition` for a record of the partition as a whole (`prefix` + a suffix).

    The store lists its keys by the partition their text hashes to (a key space's records by
    their key space's key: table_keys.py), and a RocksDB table looks a key up in the database of
    its partition: this one hashes to `partition` itself.
    """
    suffix = 0
    while partition_for(f"{prefix}{suffix}".encode(), partitions) != partition:
        suffix += 1
    return f"{prefix}{suffix}"


@dataclass
class Sealed:
    """A batch's changes to a partition's state, taken when the batch was finished: the
    changelog records serialized then (the engine goes on changing the same records in place),
    and what to write to the local store once the batch's findings are in Kafka."""

    changes: dict[str, Any]  # key -> state as of the batch (a snapshot), or _DELETED
    records: list[tuple[bytes, bytes | None]]
    table_keys: dict[str, str]  # key -> the table key its record was written under


class PartitionStore(MutableMapping):
    """One routed partition's slice of the state table, as the engine's store.

    Writes wait in `pending` until the batch is finished: `seal` takes them (the batch's
    changelog records, serialized at once), and `write` stores and sends them, which the agent
    calls once the batch's findings are acknowledged: a crash in between replays the batch
    against the old state and sends the findings again (same ids), never records state whose
    findings were lost. Between the two, the next batch reads the sealed changes (`sealed`,
    oldest first), so it runs while the previous batch's outputs are in flight.

    A record is the engine's plain data (engine.py) or its bytes already serialized by
    `serializer` (the compiled core, `StoredCoreEngine`): those are sent as they are, and kept
    as they are by the memory store (a persistent store keeps them decoded, as every record).

    A key whose state record the changelog refuses as too large is forgotten everywhere at once
    (`_too_large`): in the engine (`on_too_large`, set by the owner), in the changes not yet
    written and in the local store, as its deletion is in the changelog.
    """

    def __init__(
        self,
        table: faust.Table,
        partition: int,
        partitions: int,
        batch_size: BatchSize | None = None,
        key_spaces: Mapping[str, str] | None = None,
    ) -> None:
        """`batch_size` is shared by the table's partitions (`BatchSize`); `key_spaces` names
        the key space of each detector that has one (table_keys.py)."""
        self.table = table
        self.partition = partition
        self.partitions = partitions
        self.table_keys = TableKeys(key_spaces or {}, partition, partitions)
        self.pending: dict[str, dict | bytes | Literal[_Deleted.DELETED]] = {}
        self.sealed: deque[Sealed] = deque()
        self.changelog = ChangelogWriter(table, batch_size, self._too_large)
        # An engine that writes its records already serialized (the compiled core) does so
        # with this; its bytes are stored and sent as they are.
        self.serializer = self.changelog.serializer
        self.on_too_large: StateTooLarge | None = None
        self._read = self.changelog.reader()

    def __getitem__(self, skey: str) -> dict | bytes:
        value = self.get(skey, _DELETED)
        if value is _DELETED:
            raise KeyError(skey)
        return value

    def get(self, skey: str, default=None):
        value = self.pending.get(skey)
        if value is None:
            for sealed in reversed(self.sealed):  # the newest batch first
                value = sealed.changes.get(skey)
                if value is not None:
                    break
            else:
                return self._read(self.table_keys.table_key(skey), default)
        return default if value is _DELETED else value

    def __setitem__(self, skey: str, record: dict | bytes) -> None:
        self.pending[skey] = record

    def __delitem__(self, skey: str) -> None:
        if self.get(skey) is None:
            raise KeyError(skey)
        self.pending[skey] = _DELETED

    def __iter__(self) -> Iterator[str]:
        overlay: dict[str, Any] = {}
        for sealed in self.sealed:
            overlay.update(sealed.changes)
        overlay.update(self.pending)
        for table_key in list(self.table.keys()):
            skey = self.table_keys.owned(table_key)
            if skey is not None and skey not in overlay:
                yield skey
        for skey, value in overlay.items():
            if value is not _DELETED:
                yield skey

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def seal(self) -> Sealed:
        """Take the batch's pending changes: their changelog records are serialized now."""
        changelog = self.changelog
        record, snapshot = changelog.record, changelog.snapshot
        pending, self.pending = self.pending, {}
        changes: dict[str, Any] = {}
        records = []
        table_keys: dict[str, str] = {}
        table_key = self.table_keys.table_key
        with partition_current(self.partition):  # a deleted key is looked up in its partition
            for skey, value in pending.items():
                table_keys[skey] = written = table_key(skey)
                if value is _DELETED:
                    if self._stored(skey, written):
                        changes[skey] = _DELETED
                        records.append(record(written, None))
                else:
                    key, payload = record(written, value)
                    changes[skey] = snapshot(value, payload)
                    records.append((key, payload))
        sealed = Sealed(changes, records, table_keys)
        self.sealed.append(sealed)
        return sealed

    async def write(self, sealed: Sealed, producer: Any) -> list[Awaitable[int]]:
        """Write a sealed batch's changes to the table's store (`keep`) and its changelog
        partition; batches are written in the order they were sealed.

        `producer` is the Faust producer. Returns the changelog deliveries, each giving the
        last offset of its records: the agent awaits them and passes the last to `persisted`
        before it acknowledges the messages that made the changes. This is what `table[key] =
        value` does, minus Faust's per-write send buffer and per-record sends (see
        `ChangelogWriter`).
        """
        self.keep(sealed)
        if not sealed.records:
            return []
        return await self.changelog.send(producer, self.partition, sealed.records)

    def keep(self, sealed: Sealed) -> None:
        """Write a sealed batch's changes to the table's local store, the oldest sealed
        batch first (`write` then sends its changelog records)."""
        if not self.sealed or self.sealed[0] is not sealed:
            raise RuntimeError("partition state written out of batch order")
        changelog = self.changelog
        kept = {}
        with partition_current(self.partition):  # a RocksDB store writes to its partition's
            table_keys = sealed.table_keys
            for skey, value in sealed.changes.items():
                if value is _DELETED:
                    changelog.forget(table_keys[skey])
                    if not self._changed_after(sealed, skey):
                        self.table_keys.forget(skey)
                else:
                    kept[table_keys[skey]] = value
            changelog.keep_all(self.partition, kept)
        self.sealed.popleft()

    def persisted(self, offset: int) -> None:
        """Record the changelog offset the store holds: a RocksDB store reads only what
        follows it when the partition is recovered (Faust does this after each write)."""
        self.changelog.persisted(self.partition, offset)

    def _too_large(self, table_key: str, record: bytes, error: BaseException) -> Awaitable[None]:
        """The changelog refused the key's state record: the owner forgets it in the engine,
        this store in the changes not yet written and in the local store (without an owner,
        the batch fails, as Faust's own send would)."""
        if self.on_too_large is None:
            raise error
        skey = self.table_keys.owned(table_key) or table_key
        with partition_current(self.partition):  # the owner reads the key to forget it
            reported = self.on_too_large(skey, record, error)
            self.changelog.forget(table_key)
        self.pending.pop(skey, None)
        key = self.changelog.record(table_key, None)[0]
        for sealed in self.sealed:  # sealed, unwritten: their writes follow the key's deletion
            if skey in sealed.changes:
                sealed.changes[skey] = _DELETED
                sealed.records = [kept for kept in sealed.records if kept[0] != key]
        return reported

    def _changed_after(self, sealed: Sealed, skey: str) -> bool:
        """Whether a batch after `sealed` changed the key again (made it anew): its record
        stays under the table key that batch wrote."""
        later = [batch for batch in self.sealed if batch is not sealed]
        return skey in self.pending or any(skey in batch.changes for batch in later)

    def _stored(self, skey: str, table_key: str) -> bool:
        """Whether the key is in the local store (under `table_key`) or in a sealed batch's
        changes: a deletion of a key never stored needs no changelog record."""
        for sealed in reversed(self.sealed):
            value = sealed.changes.get(skey)
            if value is not None:
                return value is not _DELETED
        return table_key in self.changelog.store
