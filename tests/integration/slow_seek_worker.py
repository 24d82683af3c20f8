"""`friction worker` whose seeks back to committed offsets take 2 s longer.

After a rebalance Faust resumes the stream partitions, seeks them to their committed offsets
and only then resumes the flow. Records the fetcher delivers in between were dropped by stock
Faust when the flow resumed. Holding each seek for `SEEK_DELAY_S` widens that window, so a
worker with a backlog reliably has records in its queues when the flow resumes.
"""

from __future__ import annotations

import asyncio
import sys

from faust.transport.consumer import Consumer

from streams.cli import main

SEEK_DELAY_S = 2.0

_perform_seek = Consumer.perform_seek


async def _slow_perform_seek(self) -> None:
    await _perform_seek(self)
    await asyncio.sleep(SEEK_DELAY_S)


Consumer.perform_seek = _slow_perform_seek

if __name__ == "__main__":
    sys.exit(main())
