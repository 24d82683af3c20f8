"""`friction worker` whose first table recovery loses the changelog records it fetches.

It reproduces, on purpose, the way Faust 0.15.3 can lose changelog records between its fetcher
and its recovery during a rebalance: the fetcher moves past them and the recovery never sees
them. Every changelog record delivered in the first `LOSS_WINDOW_S` after the first one is
dropped; later records (those read again) are delivered as usual.
"""

from __future__ import annotations

import sys
import time

from faust.tables.manager import TableManager
from friction_detector.streams.cli.main import main

LOSS_WINDOW_S = 3.0


def _lossy(queue) -> None:
    deliver = queue.put_nowait_enhanced
    first_loss: list[float] = []

    def put_nowait_enhanced(value, **kwargs):
        now = time.monotonic()
        if not first_loss:
            first_loss.append(now)
        if now - first_loss[0] < LOSS_WINDOW_S:
            print(f"lossy recovery: dropped {value.message.tp} offset {value.message.offset}",
                  file=sys.stderr, flush=True)  # fmt: skip
            return None
        return deliver(value, **kwargs)

    queue.put_nowait_enhanced = put_nowait_enhanced


_changelog_queue = TableManager.changelog_queue.fget


def _changelog_queue_losing_first_records(self):
    created = self._changelog_queue is None
    queue = _changelog_queue(self)
    if created:
        _lossy(queue)
    return queue


TableManager.changelog_queue = property(_changelog_queue_losing_first_records)

if __name__ == "__main__":
    sys.exit(main())
