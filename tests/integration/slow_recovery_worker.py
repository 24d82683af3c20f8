"""`friction worker` that waits `DELAY_S` at the end of each table recovery.

While a worker recovers its tables after a rebalance, its stream partitions are paused but the
Kafka fetcher keeps buffering their records. The delay makes sure input produced during a
rebalance is waiting in the fetcher when Faust resumes those partitions, seeks them to their
committed offsets and resumes the flow: the path where stock Faust could drop records.
"""

from __future__ import annotations

import asyncio
import sys

from faust.tables.recovery import Recovery
from friction_detector.streams.cli.main import main

DELAY_S = 3.0

_on_recovery_completed = Recovery.on_recovery_completed


async def _on_recovery_completed_later(self, generation_id: int = 0) -> None:
    await asyncio.sleep(DELAY_S)
    await _on_recovery_completed(self, generation_id)


Recovery.on_recovery_completed = _on_recovery_completed_later

if __name__ == "__main__":
    sys.exit(main())
