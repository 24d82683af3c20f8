"""Sending a batch's records so that no single record can stop the worker.

A record the broker refuses for its own sake (too large, corrupt) would fail its batch on every
retry: the worker would crash, restart, read the same input and fail again, for ever. Each
record says what to send in its place (`instead`): a routed message its items one by one, an
item or a finding its dead letter. Dead letters always fit (streams/dead_letter.py), so the
batch goes on. Any other failure (the broker is down, authentication) still fails the batch:
that is not the record's fault, and its input is read again once the worker restarts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import (
    CorruptRecordException,
    InvalidMessageError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

log = logging.getLogger(__name__)

RECORD_ERRORS = (
    CorruptRecordException,
    InvalidMessageError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

# Faust's producer.send: awaited, it queues the record and gives the delivery to await.
Send = Callable[..., Awaitable[Awaitable[Any]]]


@dataclass
class Outgoing:
    """One record of a batch; `instead` gives what replaces it if the broker refuses it."""

    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None
    instead: Callable[[BaseException], list[Outgoing]] | None = None


def refused_for_itself(error: BaseException) -> bool:
    """Whether `error` (or what it wraps: Faust wraps the client's errors) is about the record."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, RECORD_ERRORS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def deliver(send: Send, records: list[Outgoing]) -> None:
    """Send `records` in order and wait until the broker has them all, or their replacements.

    Raises what fails otherwise, or when a refused record has no replacement.
    """
    while records:
        pending: list[tuple[Outgoing, Any]] = []
        for record in records:
            try:
                future = await send(
                    record.topic, record.key, record.value, record.partition, None, None
                )
            except Exception as error:  # refused before it left: the client's size check
                pending.append((record, error))
                continue
            pending.append((record, future))
        futures = [f for _, f in pending if not isinstance(f, BaseException)]
        results = iter(await asyncio.gather(*futures, return_exceptions=True))
        records = []
        for record, sent in pending:
            outcome = sent if isinstance(sent, BaseException) else next(results)
            if isinstance(outcome, BaseException):
                records.extend(_replacements(record, outcome))


def _replacements(record: Outgoing, error: BaseException) -> list[Outgoing]:
    if record.instead is None or not refused_for_itself(error):
        raise error
    log.warning(
        "the broker refused a %d-byte record for %s (%r): sending what replaces it",
        len(record.value),
        record.topic,
        error,
    )
    return record.instead(error)
