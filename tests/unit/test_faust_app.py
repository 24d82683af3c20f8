"""The worker's Faust app keeps stream queues when its flow resumes, and empties them on clear."""

from __future__ import annotations

import asyncio

import faust
from friction_detector.streams.worker.faust_app import FrictionFaustApp
from friction_detector.streams.worker.faust_internals import current_event


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
