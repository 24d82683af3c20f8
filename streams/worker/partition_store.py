"""A routed partition's slice of the worker's state table, as the engine's store."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Iterator, MutableMapping
from typing import Any, Final, Literal

import faust
from friction_detector.streams.kafka.topics import partition_for
from friction_detector.streams.worker.faust_internals import ChangelogWriter


class _Deleted(enum.Enum):
    """A key deleted in this batch, until `flush`: an enum member, so `is` narrows its type."""

    DELETED = enum.auto()


_DELETED: Final = _Deleted.DELETED


def own_key(prefix: str, partition: int, partitions: int) -> str:
    """A key of `partition` for a record of the partition as a whole (`prefix` + a suffix).

    Every key a partition's store holds must hash to that partition: the store lists its keys by
    hash, and a RocksDB table looks a key up in the database of its partition.
    """
    suffix = 0
    while partition_for(f"{prefix}{suffix}".encode(), partitions) != partition:
        suffix += 1
    return f"{prefix}{suffix}"


class PartitionStore(MutableMapping):
    """One routed partition's slice of the state table, as the engine's store.

    Writes wait in `pending` until `flush`, which the agent calls once the batch's findings
    are acknowledged: a crash in between replays the batch against the old state and sends
    the findings again (same ids), never records state whose findings were lost.
    """

    def __init__(self, table: faust.Table, partition: int, partitions: int) -> None:
        self.table = table
        self.partition = partition
        self.partitions = partitions
        self.pending: dict[str, dict | Literal[_Deleted.DELETED]] = {}
        self.changelog = ChangelogWriter(table)
        self._read = self.changelog.reader()

    def owns(self, skey: str) -> bool:
        return partition_for(skey.encode(), self.partitions) == self.partition

    def __getitem__(self, skey: str) -> dict:
        value = self.get(skey, _DELETED)
        if value is _DELETED:
            raise KeyError(skey)
        return value

    def get(self, skey: str, default=None):
        value = self.pending.get(skey)
        if value is None:
            return self._read(skey, default)
        return default if value is _DELETED else value

    def __setitem__(self, skey: str, record: dict) -> None:
        self.pending[skey] = record

    def __delitem__(self, skey: str) -> None:
        if self.get(skey) is None:
            raise KeyError(skey)
        self.pending[skey] = _DELETED

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for skey in list(self.table.keys()):
            if self.owns(skey):
                seen.add(skey)
                if self.pending.get(skey) is not _DELETED:
                    yield skey
        for skey, value in list(self.pending.items()):
            if skey not in seen and value is not _DELETED:
                yield skey

    def __len__(self) -> int:
        return sum(1 for _ in self)

    async def flush(self, producer: Any) -> list[Awaitable[int]]:
        """Write pending changes to the table's store and its changelog partition.

        `producer` is the Faust producer. Returns the changelog deliveries, each giving the
        last offset of its records: the agent awaits them and passes the last to `persisted`
        before it acknowledges the messages that made the changes. This is what `table[key] =
        value` does, minus Faust's per-write send buffer and per-record sends (see
        `ChangelogWriter`). Run it with an event of this partition current
        (`faust_internals.current_event`): a RocksDB store writes to the database of the
        current event's partition.
        """
        changelog = self.changelog
        data, record = changelog.store, changelog.record
        pending, self.pending = self.pending, {}
        records = []
        for skey, value in pending.items():
            if value is _DELETED:
                if skey not in data:
                    continue
                del data[skey]
                records.append(record(skey, None))
            else:
                data[skey] = value
                records.append(record(skey, value))
        if not records:
            return []
        return await changelog.send(producer, self.partition, records)

    def persisted(self, offset: int) -> None:
        """Record the changelog offset the store holds: a RocksDB store reads only what
        follows it when the partition is recovered (Faust does this after each write)."""
        self.changelog.persisted(self.partition, offset)
