"""Where a detector key's record lives in the state table: its table key and its partition.

The engine names a record by its state key, `<detector>/<key>`. A detector without a key space
keeps it under that key, in the routed partition of that key, as stage 1 routes its items. A
detector of a key space (`Detector.key_space`, e.g. "session") has its items routed to the
partition of `<key space>/<key>`, shared by every detector of that space, and keeps its
records under `<key space>:<detector>/<key>` (detector names have no ":" or "/"): a distinct
table key, because the record of the same state key may still be held, under its plain key,
in another partition's changelog, written before the detector had a key space. Faust's memory
store keeps every partition's keys in one dict, so two partitions holding one table key would
overwrite each other's record there on recovery.

Such a record written before is taken up by the partition that holds it and goes on under its
plain key until the key expires there: no new item of the key reaches it (stage 1 now routes
them to the key space's partition, where the key starts afresh), only the items routed before,
so a burst or an open outcome across the change is split between the two. An item routed
before that makes a new record there (it was still in the routed topic) makes it under the
plain key too: a key space's table key is written only in the key space's partition.
"""

from __future__ import annotations

from collections.abc import Mapping

from friction_detector.detectors.engine import KEY_SEPARATOR, store_key
from friction_detector.streams.kafka.topics import partition_for

SPACE_MARK = ":"


class TableKeys:
    """State keys to table keys and back for one routed partition, and which it owns."""

    def __init__(self, key_spaces: Mapping[str, str], partition: int, partitions: int) -> None:
        """`key_spaces`: each detector of a key space, by name (the others are absent)."""
        self.key_spaces = key_spaces
        # The state keys' beginnings of the detectors with a key space: any other state key is
        # its own table key, told without splitting it (every record of a batch is asked).
        self.spaced = tuple(name + KEY_SEPARATOR for name in key_spaces)
        self.partition = partition
        self.partitions = partitions
        # The table key of each held state key that is not simply its state key, or that took
        # a hash to tell (a key space's): written with every batch that changes the record.
        self.known: dict[str, str] = {}

    def table_key(self, skey: str) -> str:
        """The table key the record of `skey` is written under: the one it was read from, else
        its key space's where this is the partition of the key space's key, else its own (an
        item routed to this partition before the detector had a key space, held in the routed
        topic or sent by a worker of the version before, makes the key's record here)."""
        if not skey.startswith(self.spaced):
            return skey
        known = self.known.get(skey)
        if known is not None:
            return known
        name, _, key = skey.partition(KEY_SEPARATOR)
        space = self.key_spaces[name]
        known = skey
        if self._owns(store_key(space, key)):
            known = space + SPACE_MARK + skey
        self.known[skey] = known
        return known

    def forget(self, skey: str) -> None:
        """The key's record is deleted: a record made again later is placed afresh."""
        self.known.pop(skey, None)

    def owned(self, table_key: str) -> str | None:
        """The state key of a table key this partition owns, else None; the record is written
        back under the table key it was read from."""
        head, _, rest = table_key.partition(KEY_SEPARATOR)
        space, mark, name = head.partition(SPACE_MARK)
        if mark:  # <key space>:<detector>/<key>
            skey, routed_by = store_key(name, rest), store_key(space, rest)
        else:
            skey = routed_by = table_key
        if not self._owns(routed_by):
            return None
        if self.table_key(skey) != table_key:
            self.known[skey] = table_key
        return skey

    def _owns(self, routed_by: str) -> bool:
        return partition_for(routed_by.encode(), self.partitions) == self.partition
