"""A record the broker refuses for its own sake is replaced by what it names; any other failure
fails the batch."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from friction_detector.streams.worker.delivery import Outgoing, deliver, refused_for_itself


class Broker:
    """Faust's `producer.send` as the worker calls it: refuses values over `limit` bytes, on
    sending (the client's check) or on delivery (the broker's), and records what it took."""

    def __init__(self, limit: int, refuse_on_delivery: bool = False, down: bool = False):
        self.limit = limit
        self.refuse_on_delivery = refuse_on_delivery
        self.down = down
        self.taken: list[tuple[str, bytes]] = []

    async def send(self, topic, key, value, partition, timestamp, headers) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        if self.down:
            future.set_exception(KafkaConnectionError("broker unreachable"))
        elif len(value) > self.limit:
            error = MessageSizeTooLargeError(f"{len(value)} bytes")
            if not self.refuse_on_delivery:
                raise RuntimeError("Error while sending") from error  # as Faust wraps it
            future.set_exception(error)
        else:
            self.taken.append((topic, value))
            future.set_result(len(self.taken))
        return future


def split(value: bytes) -> list[Outgoing]:
    """Halves, each replaced in turn, down to single bytes, then a dead letter."""
    if len(value) == 1:
        return [Outgoing("dead", None, b"letter:" + value)]
    half = len(value) // 2
    return [
        Outgoing("out", None, part, instead=lambda error, part=part: split(part))
        for part in (value[:half], value[half:])
    ]


@pytest.mark.parametrize("on_delivery", [False, True])
def test_a_refused_record_is_replaced_and_the_rest_is_delivered(on_delivery: bool) -> None:
    broker = Broker(limit=2, refuse_on_delivery=on_delivery)
    records = [
        Outgoing("out", None, b"ok"),
        Outgoing("out", None, b"abcd", instead=lambda error: split(b"abcd")),
        Outgoing("out", None, b"zz"),
    ]

    asyncio.run(deliver(broker.send, records))

    assert broker.taken == [("out", b"ok"), ("out", b"zz"), ("out", b"ab"), ("out", b"cd")]


def test_a_refused_record_without_replacement_fails_the_batch() -> None:
    broker = Broker(limit=2, refuse_on_delivery=True)
    with pytest.raises(MessageSizeTooLargeError):
        asyncio.run(deliver(broker.send, [Outgoing("out", None, b"abcd")]))


def test_a_broker_that_is_down_fails_the_batch_even_where_a_replacement_exists() -> None:
    broker = Broker(limit=100, down=True)
    record = Outgoing("out", None, b"abcd", instead=lambda error: [Outgoing("dead", None, b"x")])
    with pytest.raises(KafkaConnectionError):
        asyncio.run(deliver(broker.send, [record]))
    assert broker.taken == []


def test_refusals_are_recognised_through_wrapping() -> None:
    try:
        try:
            raise MessageSizeTooLargeError("big")
        except MessageSizeTooLargeError as inner:
            raise RuntimeError("Error while sending") from inner
    except RuntimeError as wrapped:
        assert refused_for_itself(wrapped)
    assert not refused_for_itself(KafkaConnectionError("down"))
