"""A fake of the aiokafka producer's record-batch API, as the changelog writer uses it, for the
tests of the writer (test_faust_internals.py) and of the partition store that drives it
(test_partition_store.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.record.default_records import DefaultRecordBatch


class FakeAIOKafka:
    """Each record batch lands at once, and the broker gives it the next offsets."""

    def __init__(self, first_offset: int = 100) -> None:
        self._message_accumulator = SimpleNamespace(_compression_type=0)
        self.batches: list[tuple[str, int, list]] = []
        self.next_offset = first_offset

    def _ensure_producer(self) -> FakeAIOKafka:
        """Faust's producer hands out its aiokafka producer; this fake is both."""
        return self

    async def send_batch(self, batch, topic, *, partition):
        records = list(DefaultRecordBatch(bytes(batch._build())))
        self.batches.append((topic, partition, [(r.key, r.value) for r in records]))
        future = asyncio.get_running_loop().create_future()
        future.set_result(SimpleNamespace(offset=self.next_offset))
        self.next_offset += len(records)
        return future


class RefusingAIOKafka(FakeAIOKafka):
    """A changelog topic that takes record batches of at most `limit` bytes: a larger one fails
    its delivery as the broker's MESSAGE_TOO_LARGE does, and lands nothing."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.refused = 0

    async def send_batch(self, batch, topic, *, partition):
        built = bytes(batch._build())
        if len(built) <= self.limit:
            batch._build = lambda: built
            return await super().send_batch(batch, topic, partition=partition)
        self.refused += 1
        future = asyncio.get_running_loop().create_future()
        future.set_exception(MessageSizeTooLargeError())
        return future
