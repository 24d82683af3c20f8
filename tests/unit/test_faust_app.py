"""The worker's Faust app keeps stream queues when its flow resumes, and empties them on clear;
its timer starts a stale batch's finish and returns, so it never overlaps itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import SimpleNamespace

import faust
from friction_detector.streams.worker.batching import BATCH_LINGER_S
from friction_detector.streams.worker.faust_app import FrictionFaustApp
from friction_detector.streams.worker.faust_internals import current_event
from mode.timers import Timer


def test_resuming_the_flow_keeps_queued_records_and_clearing_empties_them() -> None:
    async def scenario() -> tuple[int, int]:
        app = FrictionFaustApp("flow-test", broker="kafka://127.0.0.1:1")
        queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)
        app.flow_control.resume()
        await queue.put("record-1")
        await queue.put("record-2")

        app.flow_control.suspend()
        app.flow_control.resume()
        kept = queue.qsize()
        app.flow_control.clear()  # what Faust does when partitions are revoked
        return kept, queue.qsize()

    kept, after_clear = asyncio.run(scenario())

    assert kept == 2
    assert after_clear == 0


def test_current_event_is_what_faust_sees_as_the_current_event_inside_the_block_only() -> None:
    """The worker names the event whose partition a state write goes to; this relies on a
    private context variable of Faust, so an upgrade that changes it must fail here."""
    event = object.__new__(faust.Event)
    before = faust.current_event()

    with current_event(event):
        inside = faust.current_event()

    assert inside is event
    assert faust.current_event() is before


class Received(str):
    """An event named like the others here, with the position Faust's events carry."""

    def __new__(cls, name: str) -> Received:
        event = super().__new__(cls, name)
        event.message = SimpleNamespace(topic="friction-events", partition=0, offset=7)
        return event


class SlowStream:
    """What EventBatch uses of a Faust stream; here an event always waits behind the held one,
    so only the timer (or finish_held) finishes the batch."""

    def __init__(self, log: list) -> None:
        self.channel = self
        self.queue = asyncio.Queue()
        self.queue.put_nowait("next")
        self.log = log

    async def ack(self, event: str) -> None:
        self.log.append(("ack", event))


def app_with_a_slow_batch(log: list, finish_s: float, broker_down: bool = False):
    app = FrictionFaustApp("timer-test", broker="kafka://127.0.0.1:1")

    async def publish(events: list) -> None:
        log.append(("publish started", tuple(events)))
        await asyncio.sleep(finish_s)  # a round trip to the broker, longer than the interval
        if broker_down:
            raise ConnectionError("broker unreachable")
        log.append(("published", tuple(events)))

    async def crash(exc: BaseException) -> None:
        log.append(("crashed", repr(exc)))

    app.crash = crash  # type: ignore[method-assign]
    batch = app.event_batch("detect", SlowStream(log), publish, lambda event, exc: None)
    return app, batch


async def run_the_timer(app: FrictionFaustApp, seconds: float) -> None:
    """The app's timer callback under mode's Timer, as Faust runs it, for `seconds`."""

    async def ticks() -> None:
        async for _ in Timer(BATCH_LINGER_S, name="finish-stale-batches"):
            await app._finish_stale_batches()

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ticks(), seconds)


def test_a_finish_slower_than_the_timer_does_not_overlap_it_and_runs_once(caplog) -> None:
    log: list = []

    async def scenario() -> None:
        app, batch = app_with_a_slow_batch(log, finish_s=BATCH_LINGER_S * 4)
        await batch.handle("e1", lambda event: log.append(("handle", event)))
        await run_the_timer(app, BATCH_LINGER_S * 12)

    with caplog.at_level(logging.INFO, logger="mode.timers"):
        asyncio.run(scenario())

    assert not [r.getMessage() for r in caplog.records if "overlapping" in r.getMessage()]
    assert log == [
        ("handle", "e1"),
        ("publish started", ("e1",)),
        ("published", ("e1",)),
        ("ack", "e1"),
    ]


def test_no_event_is_handled_while_the_timer_s_finish_is_in_flight() -> None:
    log: list = []

    async def scenario() -> None:
        app, batch = app_with_a_slow_batch(log, finish_s=BATCH_LINGER_S * 4)
        await batch.handle("e1", lambda event: log.append(("handle", event)))
        await asyncio.sleep(BATCH_LINGER_S * 1.5)
        await app._finish_stale_batches()  # starts the finish and returns
        log.append(("timer returned",))
        await asyncio.sleep(0)  # the finish starts publishing
        await batch.handle("e2", lambda event: log.append(("handle", event)))

    asyncio.run(scenario())

    assert log == [
        ("handle", "e1"),
        ("timer returned",),
        ("publish started", ("e1",)),
        ("published", ("e1",)),
        ("ack", "e1"),
        ("handle", "e2"),
    ]


def test_a_failed_finish_started_by_the_timer_still_fails_the_batch_and_the_worker() -> None:
    log: list = []

    async def scenario() -> FrictionFaustApp:
        app, batch = app_with_a_slow_batch(log, finish_s=0.01, broker_down=True)
        await batch.handle(Received("e1"), lambda event: log.append(("handle", event)))
        await run_the_timer(app, BATCH_LINGER_S * 6)
        return app

    app = asyncio.run(scenario())

    assert ("crashed", "ConnectionError('broker unreachable')") in log
    assert ("ack", "e1") not in log
    assert isinstance(app.batch_failure, ConnectionError)


def test_finish_held_waits_for_a_finish_the_timer_started() -> None:
    log: list = []

    async def scenario() -> bool:
        app, batch = app_with_a_slow_batch(log, finish_s=BATCH_LINGER_S * 2)
        await batch.handle("e1", lambda event: log.append(("handle", event)))
        await asyncio.sleep(BATCH_LINGER_S * 1.5)
        await app._finish_stale_batches()
        ready = await app.before_waiting_for_acks(logging.getLogger("test"))
        log.append(("waiting for acks",))
        return ready

    assert asyncio.run(scenario()) is True
    assert log[-2:] == [("ack", "e1"), ("waiting for acks",)]
    assert log.count(("published", ("e1",))) == 1
