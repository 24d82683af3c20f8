"""A dropped state is logged and dead-lettered with its size and its changelog's limit, and
counted, before the report returns (the changelog writer then writes the key's deletion)."""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.dropped_state import DroppedStates
from friction_detector.streams.worker.records import WorkerRecords
from prometheus_client import generate_latest

CHANGELOG = "app-x-engine-state-changelog"
STATE = orjson.dumps({"s": {}, "p": [], "t": {}, "d": {"bot-1": 1, "bot-2": 2}, "x": 9})


class Broker:
    """Faust's producer.send: each record lands at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic, key, value, partition, timestamp, headers) -> asyncio.Future:
        self.sent.append((topic, value))
        landed = asyncio.get_running_loop().create_future()
        landed.set_result(None)
        return landed


def report(limit: int | None | Exception) -> tuple[Broker, FrictionMetrics, list[str]]:
    metrics = FrictionMetrics(set())
    settings = WorkerSettings(app_id="app-x", dead_letter_topic="dead")
    broker, asked = Broker(), []

    def limit_of(topic: str) -> int | None:
        asked.append(topic)
        if isinstance(limit, Exception):
            raise limit
        return limit

    records = WorkerRecords(settings, metrics)
    dropped = DroppedStates(settings, records, lambda: broker.send, limit_of)
    asyncio.run(dropped.report("slow_checkout", "s-bot", CHANGELOG, 3, STATE))
    return broker, metrics, asked


def test_a_dropped_state_is_dead_lettered_whole_with_its_size_and_limit_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        broker, metrics, asked = report(limit=8192)

    assert asked == [CHANGELOG]
    ((topic, value),) = broker.sent
    letter = orjson.loads(value)
    assert topic == "dead"
    assert letter == {
        "reason": "state_too_large",
        "detail": f"detector slow_checkout key s-bot: state record of {len(STATE)} bytes, larger"
        f" than {CHANGELOG} takes (max.message.bytes 8192 bytes): dropped, the key starts"
        " again empty",
        "source": CHANGELOG,
        "position": "partition 3",
        "raw": STATE.decode(),
    }
    text = generate_latest(metrics.registry).decode()
    assert 'friction_bad_input_total{reason="state_too_large"} 1.0' in text
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(f"state of detector slow_checkout key s-bot: changelog {CHANGELOG}")
    assert "(max.message.bytes 8192 bytes)" in warning


def test_a_limit_the_broker_does_not_tell_is_reported_unknown() -> None:
    broker, _, _ = report(limit=None)

    ((_, value),) = broker.sent
    assert "(max.message.bytes unknown)" in orjson.loads(value)["detail"]


def test_failing_to_ask_for_the_limit_still_reports_the_state() -> None:
    """Asking is only for the report: a connection error there must not fail the batch, which
    would meet the same refusal after a restart."""
    broker, metrics, asked = report(limit=OSError("connection refused"))

    assert asked == [CHANGELOG]
    ((_, value),) = broker.sent
    assert "(max.message.bytes unknown)" in orjson.loads(value)["detail"]
    text = generate_latest(metrics.registry).decode()
    assert 'friction_bad_input_total{reason="state_too_large"} 1.0' in text
