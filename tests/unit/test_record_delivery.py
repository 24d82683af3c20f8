"""The worker's consumer hands each fetched record to its streams in one task; a stop of the
flow abandons a delivery blocked on a full queue, as Faust's own race does, and a cancelled
fetch loop still stops."""

from __future__ import annotations

import asyncio
import inspect
import warnings

import pytest
from friction_detector.streams.worker.faust_internals import SeekSafeTransport

Consumer = SeekSafeTransport.Consumer


def consumer() -> Consumer:
    """Only what the delivery path reads: the flow's events (`stop_flow` sets them)."""
    made = object.__new__(Consumer)
    made.flow_active = True
    made.can_resume_flow = asyncio.Event()
    made.suspend_flow = asyncio.Event()
    return made


def test_a_record_is_delivered_without_starting_the_flow_wait() -> None:
    async def scenario() -> tuple[str, object]:
        c = consumer()
        delivered: list[str] = []

        async def deliver(record: str) -> str:
            delivered.append(record)
            return "handed over"

        flow_wait = c.suspend_flow.wait()
        results = await c.wait_first(deliver("r1"), flow_wait)
        return delivered[0], (results.results, inspect.getcoroutinestate(flow_wait))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a flow wait left unawaited would warn
        record, (results, state) = asyncio.run(scenario())
    assert record == "r1"
    assert results == ["handed over"]
    assert state == inspect.CORO_CLOSED


def test_stopping_the_flow_abandons_a_delivery_blocked_on_a_full_queue() -> None:
    async def scenario() -> tuple[bool, bool]:
        c = consumer()
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        queue.put_nowait("r0")  # full: the next put waits
        waiting = asyncio.ensure_future(c.wait_first(queue.put("r1"), c.suspend_flow.wait()))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        c.stop_flow()  # a rebalance
        results = await asyncio.wait_for(waiting, 1)
        return results.stopped, queue.qsize() == 1 and queue.get_nowait() == "r0"

    stopped, only_the_first = asyncio.run(scenario())
    assert stopped is False  # the fetch loop goes on to its next fetch, as after Faust's race
    assert only_the_first  # r1 was never put


def test_a_cancelled_fetch_loop_is_cancelled_with_its_delivery() -> None:
    async def scenario() -> bool:
        c = consumer()
        blocked = asyncio.get_running_loop().create_future()
        waiting = asyncio.ensure_future(c.wait_first(blocked, c.suspend_flow.wait()))
        await asyncio.sleep(0.01)
        waiting.cancel()  # the worker stops
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return blocked.cancelled()

    assert asyncio.run(scenario())
