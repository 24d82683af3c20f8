"""Reporting a key's state that its changelog refused as too large, once it is dropped.

The engine has forgotten the key by then (detection.py) and the changelog writer waits for the
report before it writes the key's deletion (faust_internals.ChangelogWriter): a warning, and
the dead letter that carries the state itself, with its size and the changelog's limit, sent
at once rather than with a later batch, so that no state is dropped without its dead letter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from friction_detector.detectors.events import BadInput
from friction_detector.streams.dead_letter import STATE_TOO_LARGE
from friction_detector.streams.kafka.settings import KafkaSettings
from friction_detector.streams.kafka.topics import max_message_bytes
from friction_detector.streams.worker.delivery import Send, deliver
from friction_detector.streams.worker.records import WorkerRecords

log = logging.getLogger(__name__)

# Blocking: the topic's max.message.bytes as the broker tells it, or None.
LimitOf = Callable[[str], int | None]


class DroppedStates:
    """Reports dropped states through the worker's producer (`send`, given once it exists).

    The limit is asked of the broker when a state is dropped: the refusal does not carry it
    (aiokafka raises MESSAGE_TOO_LARGE without the broker's message), and an operator may have
    changed it since the worker started."""

    def __init__(
        self,
        settings: KafkaSettings,
        records: WorkerRecords,
        send: Callable[[], Send],
        limit_of: LimitOf | None = None,
    ) -> None:
        self.records = records
        self.send = send
        self.limit_of = limit_of or (lambda topic: max_message_bytes(settings, topic))

    async def report(
        self, detector: str, key: str, changelog: str, partition: int, record: bytes
    ) -> None:
        """Log and dead-letter `record`, the state of `detector`'s `key` that `changelog`
        refused on `partition`; returns once the dead letter is in Kafka."""
        limit = await asyncio.get_running_loop().run_in_executor(None, self._limit, changelog)
        said = "unknown" if limit is None else f"{limit} bytes"
        log.warning(
            "state of detector %s key %s: changelog %s refused its %d-byte record as too large"
            " (max.message.bytes %s): dropped and dead-lettered, the key starts again empty",
            detector, key, changelog, len(record), said,
        )  # fmt: skip
        detail = (
            f"detector {detector} key {key}: state record of {len(record)} bytes, larger than"
            f" {changelog} takes (max.message.bytes {said}): dropped, the key starts again empty"
        )
        bad = BadInput(STATE_TOO_LARGE, detail, record)
        letter = self.records.dead_letter(bad, changelog, f"partition {partition}")
        await deliver(self.send(), [letter])

    def _limit(self, changelog: str) -> int | None:
        """The topic's limit, or None: it only goes into the report, so no failure to ask for
        it (a connection or TLS error, a refused request) may fail the batch, which would
        meet the same refusal again after a restart."""
        try:
            return self.limit_of(changelog)
        except Exception as error:  # noqa: BLE001 - any failure: the report says "unknown"
            log.warning("asking the broker for %s's max.message.bytes failed: %r", changelog, error)
            return None
