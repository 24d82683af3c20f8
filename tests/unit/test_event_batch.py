"""A batch is finished when its agent's queue runs dry, when full, or by the timer when left
waiting; its events are acknowledged only after its outputs were published."""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace

import pytest
from friction_detector.streams.worker.batching import EventBatch


class Stream:
    """What EventBatch uses of a Faust stream: its channel's queue and `ack`."""

    def __init__(self, log: list) -> None:
        self.channel = self
        self.queue = asyncio.Queue()
        self.log = log

    async def ack(self, event: str) -> None:
        self.log.append(("ack", event))


def make_batch(
    max_events: int = 1000, linger_s: float = 0.05, broker_down: bool = False
) -> tuple[EventBatch, list]:
    log: list = []

    async def publish(events: list) -> None:
        await asyncio.sleep(0)  # a real publish awaits the broker
        if broker_down:
            raise ConnectionError("broker unreachable")
        log.append(("publish", tuple(events)))

    async def on_failure(exc: BaseException) -> None:
        log.append(("failed", repr(exc)))

    def on_error(event: str, exc: Exception) -> None:
        log.append(("dead-lettered", event, repr(exc)))

    batch = EventBatch(
        Stream(log), publish, on_error, on_failure, max_events=max_events, linger_s=linger_s
    )
    return batch, log


class Received(str):
    """An event named like the others here, with the position Faust's events carry."""

    def __new__(cls, name: str, topic: str, partition: int, offset: int) -> Received:
        event = super().__new__(cls, name)
        event.message = SimpleNamespace(topic=topic, partition=partition, offset=offset)
        return event


def handled(log: list):
    return lambda event: log.append(("handle", event))


def test_an_event_with_nothing_queued_behind_it_is_published_then_acknowledged_at_once() -> None:
    async def scenario() -> list:
        batch, log = make_batch()
        await batch.handle("e1", handled(log))
        return log

    assert asyncio.run(scenario()) == [("handle", "e1"), ("publish", ("e1",)), ("ack", "e1")]


def test_events_are_held_while_more_wait_in_the_queue_and_published_together() -> None:
    async def scenario() -> list:
        batch, log = make_batch()
        queue = batch.queue
        for event in ("e2", "e3"):
            queue.put_nowait(event)
        await batch.handle("e1", handled(log))
        while not queue.empty():
            await batch.handle(queue.get_nowait(), handled(log))
        return log

    assert asyncio.run(scenario()) == [
        ("handle", "e1"), ("handle", "e2"), ("handle", "e3"),
        ("publish", ("e1", "e2", "e3")),
        ("ack", "e1"), ("ack", "e2"), ("ack", "e3"),
    ]  # fmt: skip


def test_a_full_batch_is_published_although_more_wait() -> None:
    async def scenario() -> list:
        batch, log = make_batch(max_events=2)
        batch.queue.put_nowait("more")
        await batch.handle("e1", handled(log))
        await batch.handle("e2", handled(log))
        return log

    assert asyncio.run(scenario())[2:] == [("publish", ("e1", "e2")), ("ack", "e1"), ("ack", "e2")]


def test_a_batch_is_published_once_its_first_event_is_old_enough_although_more_wait() -> None:
    async def scenario() -> list:
        batch, log = make_batch(max_events=1000)
        batch.max_age_s = 0.05
        batch.queue.put_nowait("more")  # a steady load: the queue never runs dry
        await batch.handle("e1", handled(log))
        await asyncio.sleep(0.03)
        await batch.handle("e2", handled(log))
        held = list(log)
        await asyncio.sleep(0.03)  # 0.06 s after e1, 0.03 s after e2: the age is e1's
        await batch.handle("e3", handled(log))
        return held + ["then"] + log[len(held) :]

    assert asyncio.run(scenario()) == [
        ("handle", "e1"), ("handle", "e2"), "then", ("handle", "e3"),
        ("publish", ("e1", "e2", "e3")), ("ack", "e1"), ("ack", "e2"), ("ack", "e3"),
    ]  # fmt: skip


def test_a_batch_left_waiting_is_finished_by_the_timer_only_after_the_linger() -> None:
    async def scenario() -> tuple[list, list]:
        batch, log = make_batch(linger_s=0.05)
        batch.queue.put_nowait("skipped by the stream")  # looked busy; the agent now waits
        await batch.handle("e1", handled(log))
        await batch.finish_stale()
        early = list(log)
        await asyncio.sleep(0.06)
        await batch.finish_stale()
        return early, log

    early, log = asyncio.run(scenario())

    assert early == [("handle", "e1")]
    assert log == [("handle", "e1"), ("publish", ("e1",)), ("ack", "e1")]


def test_no_event_is_handled_while_a_batch_is_being_published() -> None:
    async def scenario() -> list:
        batch, log = make_batch(linger_s=0)
        batch.queue.put_nowait("e2")
        await batch.handle("e1", handled(log))
        batch.queue.get_nowait()
        timer = asyncio.create_task(batch.finish_stale())
        await asyncio.sleep(0)  # the timer is now inside publish, awaiting the broker
        await batch.handle("e2", handled(log))
        await timer
        return log

    assert asyncio.run(scenario()) == [
        ("handle", "e1"), ("publish", ("e1",)), ("ack", "e1"),
        ("handle", "e2"), ("publish", ("e2",)), ("ack", "e2"),
    ]  # fmt: skip


def test_a_batch_that_cannot_be_published_is_never_acknowledged_and_reports_the_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> tuple[list, str, list]:
        batch, log = make_batch(broker_down=True)
        batch.queue.put_nowait("e1")
        for offset in (7, 9):
            await batch.handle(Received("e1", "events", 2, offset), handled(log))
        batch.queue.get_nowait()
        with pytest.raises(ConnectionError):
            await batch.handle(Received("e1", "events", 3, 40), handled(log))
        with pytest.raises(RuntimeError) as refusal:
            await batch.handle("e2", handled(log))
        refused = str(refusal.value)
        await batch.finish_held()  # what the app does before Faust waits for acknowledgements
        return log, refused, batch.events

    log, refused, held = asyncio.run(scenario())

    assert log == [("handle", "e1")] * 3 + [("failed", "ConnectionError('broker unreachable')")]
    assert refused == "event batch failed earlier"
    assert held == ["e1"] * 3
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "a batch of 3 events (events partition 2 offsets 7-9, events partition 3 offsets 40-40)"
        " failed and stays uncommitted: ConnectionError('broker unreachable')"
    ]


def test_a_message_whose_handler_raises_is_dead_lettered_and_the_batch_goes_on() -> None:
    async def scenario() -> list:
        batch, log = make_batch()

        def broken_for_e2(event: str) -> None:
            if event == "e2":
                raise ValueError(f"cannot handle {event}")
            log.append(("handle", event))

        for event in ("e2", "e3"):
            batch.queue.put_nowait(event)
        await batch.handle("e1", broken_for_e2)
        while not batch.queue.empty():
            await batch.handle(batch.queue.get_nowait(), broken_for_e2)
        return log

    assert asyncio.run(scenario()) == [
        ("handle", "e1"), ("dead-lettered", "e2", "ValueError('cannot handle e2')"),
        ("handle", "e3"),
        ("publish", ("e1", "e2", "e3")), ("ack", "e1"), ("ack", "e2"), ("ack", "e3"),
    ]  # fmt: skip


def test_finish_held_finishes_a_waiting_batch_at_once() -> None:
    async def scenario() -> list:
        batch, log = make_batch(linger_s=3600)
        batch.queue.put_nowait("skipped by the stream")
        await batch.handle("e1", handled(log))
        await batch.finish_held()
        return log

    assert asyncio.run(scenario()) == [("handle", "e1"), ("publish", ("e1",)), ("ack", "e1")]


def test_the_timer_leaves_a_batch_alone_while_its_agent_is_publishing_it() -> None:
    async def scenario() -> tuple[list, list]:
        batch, log = make_batch(linger_s=0)
        publishing = asyncio.create_task(batch.handle("e1", handled(log)))
        await asyncio.sleep(0)  # the agent is now inside publish, awaiting the broker
        await batch.finish_stale()  # returns at once instead of waiting for the lock
        during = list(log)
        await publishing
        return during, log

    during, log = asyncio.run(scenario())

    assert during == [("handle", "e1")]
    assert log == [("handle", "e1"), ("publish", ("e1",)), ("ack", "e1")]


# -- pipelined batches (stage 2) --------------------------------------------------------------


def make_pipelined(broker_down: bool = False) -> tuple[EventBatch, list, asyncio.Event]:
    """A pipelined batch whose deliveries wait for `release` (the broker's round trip)."""
    log: list = []
    release = asyncio.Event()

    def publish(events: list):
        log.append(("take", tuple(events)))  # the outputs are taken when the batch is finished

        async def delivered() -> None:
            await release.wait()
            if broker_down:
                raise ConnectionError("broker unreachable")
            log.append(("delivered", tuple(events)))

        return delivered()

    async def on_failure(exc: BaseException) -> None:
        log.append(("failed", repr(exc)))

    batch = EventBatch(
        Stream(log), publish, lambda e, x: None, on_failure, pipelined=True, linger_s=10
    )
    return batch, log, release


def test_a_pipelined_batch_handles_the_next_events_while_the_previous_outputs_are_in_flight() -> (
    None
):
    async def scenario() -> list:
        batch, log, release = make_pipelined()
        await batch.handle("e1", handled(log))  # finished: in flight, not acknowledged
        batch.queue.put_nowait("e3")
        await batch.handle("e2", handled(log))  # handled while e1's outputs are in flight
        log.append(("e1 still in flight", batch.in_flight is not None))
        release.set()
        await batch.handle(batch.queue.get_nowait(), handled(log))  # finish: e1 lands first
        await batch.finish_held()
        return log

    assert asyncio.run(scenario()) == [
        ("handle", "e1"),
        ("take", ("e1",)),
        ("handle", "e2"),
        ("e1 still in flight", True),
        ("handle", "e3"),
        ("take", ("e2", "e3")),
        ("delivered", ("e1",)),
        ("ack", "e1"),
        ("delivered", ("e2", "e3")),
        ("ack", "e2"),
        ("ack", "e3"),
    ]


def test_a_pipelined_delivery_that_fails_fails_the_batch_without_acknowledging() -> None:
    async def scenario() -> tuple[list, bool]:
        batch, log, release = make_pipelined(broker_down=True)
        await batch.handle(Received("e1", "routed", 2, 7), handled(log))
        release.set()
        await asyncio.sleep(0.01)  # the agent waits for input: the failure is reported anyway
        with pytest.raises(RuntimeError):
            await batch.handle(Received("e2", "routed", 2, 8), handled(log))
        await batch.finish_held()  # before Faust waits for acknowledgements: nothing more
        return log, batch.failed is not None

    log, failed = asyncio.run(scenario())
    assert failed
    assert not [entry for entry in log if entry[0] == "ack"]
    assert [entry[0] for entry in log] == ["handle", "take", "failed"]


def test_finish_held_waits_until_the_batch_in_flight_is_acknowledged() -> None:
    async def scenario() -> list:
        batch, log, release = make_pipelined()
        await batch.handle("e1", handled(log))
        asyncio.get_running_loop().call_later(0.01, release.set)
        await batch.finish_held()
        log.append(("finish_held returned",))
        return log

    assert asyncio.run(scenario())[-2:] == [("ack", "e1"), ("finish_held returned",)]


def test_while_a_batch_is_in_flight_the_next_collects_what_arrives_until_it_lands() -> None:
    async def scenario() -> list:
        batch, log, release = make_pipelined()
        await batch.handle("e1", handled(log))  # nothing in flight: finished at once
        await batch.handle("e2", handled(log))  # the queue is dry, but e1 is in flight: held
        await batch.handle("e3", handled(log))
        log.append(("held", tuple(batch.events)))
        release.set()  # e1 lands; the agent waits for input: e2 and e3 go at once
        for _ in range(10):
            await asyncio.sleep(0)
        await batch.finish_held()
        return log

    assert asyncio.run(scenario()) == [
        ("handle", "e1"),
        ("take", ("e1",)),
        ("handle", "e2"),
        ("handle", "e3"),
        ("held", ("e2", "e3")),
        ("delivered", ("e1",)),
        ("ack", "e1"),
        ("take", ("e2", "e3")),
        ("delivered", ("e2", "e3")),
        ("ack", "e2"),
        ("ack", "e3"),
    ]


def test_work_left_unwritten_is_finished_without_events_once_the_agent_waits_or_before_acks() -> (
    None
):
    """State written once per commit interval (state_writes.py) may wait after the last event:
    the timer finishes it once the agent has waited the linger, and `finish_held` (before a
    revoke or a stop) at once; both tell the finish it is theirs (`finishing_held`)."""

    async def scenario() -> list:
        log: list = []
        unwritten = [True]
        batch: EventBatch

        async def publish(events: list) -> None:
            log.append(("publish", tuple(events), batch.finishing_held))
            unwritten[0] = False

        async def on_failure(exc: BaseException) -> None:
            log.append(("failed", repr(exc)))

        batch = EventBatch(
            Stream(log), publish, lambda event, exc: None, on_failure, linger_s=0.05,
            unfinished=lambda: unwritten[0],
        )  # fmt: skip
        batch.last_added = time.monotonic()  # an event was handled just now
        await batch.finish_stale()  # within the linger: the agent may not be waiting
        log.append("linger")
        await asyncio.sleep(0.06)
        await batch.finish_stale()
        await batch.finish_held()  # nothing left: no finish
        unwritten[0] = True
        await batch.finish_held()
        return log

    assert asyncio.run(scenario()) == [
        "linger", ("publish", (), True), ("publish", (), True)
    ]  # fmt: skip


def test_a_batch_finished_by_its_agent_is_not_finishing_held() -> None:
    async def scenario() -> list:
        log: list = []
        batch: EventBatch

        async def publish(events: list) -> None:
            log.append(("publish", tuple(events), batch.finishing_held))

        async def on_failure(exc: BaseException) -> None:
            log.append(("failed", repr(exc)))

        batch = EventBatch(
            Stream(log), publish, lambda event, exc: None, on_failure, unfinished=lambda: True
        )
        await batch.handle("e1", handled(log))
        return log

    assert asyncio.run(scenario()) == [
        ("handle", "e1"), ("publish", ("e1",), False), ("ack", "e1")
    ]  # fmt: skip
