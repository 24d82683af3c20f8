"""The producer helper: events batched per partition of their key, in order, each batch closed
by size or by the age of its first event; `friction send` batches by default."""

from __future__ import annotations

import io

import orjson
import pytest
from friction_detector.streams.cli.send import send_lines
from friction_detector.streams.kafka.batch_producer import EventBatcher, event_key
from friction_detector.streams.kafka.topics import partition_for


class FakeProducer:
    """What EventBatcher and send_lines use of a KafkaProducer; records what was sent."""

    def __init__(self, partitions: int = 4) -> None:
        self.partitions = set(range(partitions))
        self.sent: list[tuple[bytes | None, bytes, int | None]] = []
        self.flushed = 0
        self.config = {"max_request_size": 1_048_576}

    def partitions_for(self, topic: str) -> set[int]:
        return self.partitions

    def send(self, topic, key=None, value=None, partition=None) -> None:
        self.sent.append((key, value, partition))

    def flush(self) -> None:
        self.flushed += 1


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def event(i: int, session: str) -> bytes:
    return orjson.dumps({"event_id": f"e-{i}", "type": "click", "time": 1, "session_id": session})


def elements(value: bytes) -> list[str]:
    return [e["event_id"] for e in orjson.loads(value)]


def test_a_batch_goes_to_its_keys_partition_and_keeps_its_events_in_order():
    producer, clock = FakeProducer(), Clock()
    batcher = EventBatcher(producer, "t", max_events=100, max_age_s=1, clock=clock)
    sessions = [f"s-{i % 5}" for i in range(20)]
    for i, session in enumerate(sessions):
        batcher.add(event(i, session))
    assert producer.sent == []  # nothing full, nothing due
    batcher.flush()
    assert producer.flushed == 1
    seen = []
    for key, value, partition in producer.sent:
        ids = elements(value)
        seen += ids
        assert ids == sorted(ids, key=lambda e: int(e[2:]))  # in the order added
        assert {partition_for(sessions[int(e[2:])].encode(), 4) for e in ids} == {partition}
        assert partition_for(key, 4) == partition  # keyed as its first event: same partition
    assert sorted(seen) == sorted(f"e-{i}" for i in range(20))


def test_a_batch_closes_when_full():
    producer = FakeProducer(partitions=1)
    batcher = EventBatcher(producer, "t", max_events=3, max_age_s=60, clock=Clock())
    for i in range(7):
        batcher.add(event(i, "s"))
    assert [elements(v) for _, v, _ in producer.sent] == [
        ["e-0", "e-1", "e-2"],
        ["e-3", "e-4", "e-5"],
    ]
    batcher.flush()
    assert elements(producer.sent[-1][1]) == ["e-6"]


def test_a_batch_closes_before_it_would_pass_max_bytes():
    producer = FakeProducer(partitions=1)
    size = len(event(0, "s"))
    batcher = EventBatcher(producer, "t", max_bytes=2 * size + 3, clock=Clock())
    for i in range(3):
        batcher.add(event(i, "s"))
    [(_, value, _)] = producer.sent
    assert elements(value) == ["e-0", "e-1"] and len(value) <= 2 * size + 3


def test_a_batch_closes_by_the_age_of_its_first_event():
    producer, clock = FakeProducer(partitions=1), Clock()
    batcher = EventBatcher(producer, "t", max_events=100, max_age_s=0.05, clock=clock)
    batcher.add(event(0, "s"))
    clock.now += 0.04
    batcher.add(event(1, "s"))  # later events do not extend the first one's wait
    batcher.close_due()
    assert producer.sent == []
    clock.now += 0.01
    batcher.close_due()
    assert [elements(v) for _, v, _ in producer.sent] == [["e-0", "e-1"]]


def test_an_event_that_is_not_an_object_goes_alone_as_it_is():
    producer = FakeProducer()
    batcher = EventBatcher(producer, "t", clock=Clock())
    batcher.add(b"{not json")
    batcher.add(b"[1, 2]")
    assert producer.sent == [(None, b"{not json", None), (None, b"[1, 2]", None)]
    assert event_key(b'{"event_id": "e", "user_id": "u"}') == b"u"


def test_max_events_is_bounded_by_the_batch_limit():
    with pytest.raises(ValueError, match="max_events"):
        EventBatcher(FakeProducer(), "t", max_events=1001)


def test_send_batches_lines_by_default_and_sends_one_per_message_on_request():
    lines = b"".join(event(i, f"s-{i % 3}") + b"\n" for i in range(30)) + b"{bad\n"
    batched, single = FakeProducer(), FakeProducer()
    out = io.StringIO()
    assert send_lines(io.BytesIO(lines), batched, "t", out).sent == 31
    assert send_lines(io.BytesIO(lines), single, "t", out, batch=False).sent == 31
    assert len(single.sent) == 31
    assert len(batched.sent) <= 4 + 1  # one batch per partition, and the bad line alone
    assert (None, b"{bad", None) in batched.sent
    assert "31 events in" in out.getvalue()
