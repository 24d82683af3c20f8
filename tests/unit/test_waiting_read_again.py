"""The worker's records leave out waiting events; a restart reads their messages again.

Stage 2's engine writes its records without the events still waiting for the watermark
(`waiting_in_records=False`), and each message whose items wait is held (held_messages.py): its
partition is committed only up to it. A worker killed at any batch and restarted from what the
changelog holds and from the committed offset must find what an uninterrupted worker finds:
the messages read again give items already applied (duplicates by their keys' seen ids) and the
waiting ones, which wait again. Where messages are released because they waited too long, their
waiting events are kept in the records instead (`keep_waiting`), and the restart reads nothing
again.
"""

from __future__ import annotations

import math

import orjson
import pytest
from friction_detector.detectors.compiled import compiled
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.events import Event
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.stored_core import StoredCoreEngine
from friction_detector.streams.worker.held_messages import HeldMessages
from friction_detector.streams.worker.routing import encode_message, routed_items
from test_compiled_engine import LATENESS_MS, decoded_corpus, every_builtin_detector
from test_core_changes import SOURCES, source_of
from test_stored_core import HORIZON_MS, SOURCES_KEY, SerializingStore

pytestmark = pytest.mark.skipif(not compiled(), reason="the compiled core is not built")

BATCH = 150


class Stage2:
    """One routed partition as the worker's stage 2 runs it, one event per message: taken as
    its routed message (`take_message`, as the worker takes them), or as the event `by_routes`
    (`take`, each Event made at once)."""

    def __init__(
        self, records: dict | None = None, by_routes: bool = False, write_every: int = 1
    ) -> None:
        """`write_every`: the changed records are written with every this many batches, as
        the worker writes them once per commit interval (state_writes.py)."""
        self.by_routes = by_routes
        self.write_every = write_every
        self.batches = 0
        self.unwritten: list[int] = []  # applied messages released by the next write
        self.store = SerializingStore()
        if records is not None:
            self.store.records = dict(records)
        self.engine = StoredCoreEngine(
            every_builtin_detector(), store=self.store, allowed_lateness_ms=LATENESS_MS,  # type: ignore[arg-type]
            dedup_horizon_ms=HORIZON_MS, sources_key=SOURCES_KEY, waiting_in_records=False,
        )  # fmt: skip
        if records is not None:
            self.engine.restore()
        self.engine.expect_sources(SOURCES)
        self.router = Engine(every_builtin_detector())
        self.held = HeldMessages(max_span_ms=HORIZON_MS // 2, max_hold_s=math.inf)
        self.committed = 0
        self.found: list[Finding] = []

    def batch(self, events: list[Event], first: int) -> None:
        """Take the messages at offsets `first`...; hold those with items until they are
        applied and written; write the changed records (every `write_every` batches); commit up
        to the first held message."""
        engine, held = self.engine, self.held
        progress: dict[str, int] = {}
        taken = []
        for offset, event in enumerate(events, first):
            routes = self.router.routes(event)
            if self.by_routes:
                engine.take(event, routes)
            else:
                items = [item for _, item in routed_items(event, routes, partitions=4)]
                engine.take_message(encode_message(items))
            if routes:
                taken.append((offset, event.time))
            source = source_of(event)
            progress[source] = max(progress.get(source, event.time), event.time)
        self.found += engine.advance_sources(progress) + engine.take_findings()
        self.unwritten += held.settle(taken, engine.settled())
        self.batches += 1
        if self.batches % self.write_every == 0:
            engine.write_changes()
            held.release(self.unwritten)  # the state that applied them is written
            self.unwritten = []
        first_held = held.first()
        self.committed = first + len(events) if first_held is None else first_held

    def keep_every_waiting_event(self) -> None:
        """What the worker does when a message waited too long: keep them in the records."""
        until = self.held.overdue(self.engine.settled() + HORIZON_MS)
        assert until is not None
        assert self.engine.keep_waiting(until) > 0
        releasing = self.held.keep_all()
        self.engine.write_changes()
        self.held.release(releasing)
        assert self.held.first() is None

    def run(self, events: list[Event], start: int, stop: int) -> None:
        for first in range(start, stop, BATCH):
            self.batch(events[first : min(first + BATCH, stop)], first)


def by_id(findings: list[Finding]) -> dict[str, dict]:
    """Each finding once: one sent again after a restart has the same id and content."""
    out: dict[str, dict] = {}
    for finding in findings:
        as_dict = finding.to_dict()
        assert out.setdefault(as_dict["finding_id"], as_dict) == as_dict
    return out


def waiting_in(records: dict) -> int:
    return sum(len(orjson.loads(record)["p"]) for skey, record in records.items()
               if skey != SOURCES_KEY)  # fmt: skip


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return decoded_corpus()


@pytest.fixture(scope="module")
def uninterrupted(events: list[Event]) -> dict[str, dict]:
    stage = Stage2()
    stage.run(events, 0, len(events))
    return by_id(stage.found)


@pytest.mark.parametrize("crash_after", [3, 10, 17])
def test_a_restart_reads_the_held_messages_again_and_finds_what_an_uninterrupted_run_finds(
    events: list[Event], uninterrupted: dict[str, dict], crash_after: int
) -> None:
    cut = crash_after * BATCH
    stage = Stage2()
    stage.run(events, 0, cut)
    assert stage.engine.queued() > 0  # events were waiting at the crash
    assert waiting_in(stage.store.records) == 0  # and none of them is in the records
    assert stage.committed < cut  # so their messages are read again

    restarted = Stage2(stage.store.records)
    restarted.run(events, stage.committed, len(events))

    assert uninterrupted
    assert by_id(stage.found + restarted.found) == uninterrupted


@pytest.mark.parametrize("crash_after", [5, 11, 18])
def test_state_written_batches_after_it_was_applied_is_read_again_from_the_commit(
    events: list[Event], uninterrupted: dict[str, dict], crash_after: int
) -> None:
    """The worker writes its state once per commit interval: a crash between two writes loses
    the state of the batches since the last, and their messages, held until it is written, are
    read again against the state written, even those whose items a batch applied at once."""
    cut = crash_after * BATCH
    stage = Stage2(write_every=4)
    stage.run(events, 0, cut)
    assert stage.unwritten  # applied, not written: the crash loses that state
    assert stage.committed <= min(stage.unwritten)

    restarted = Stage2(stage.store.records, write_every=4)
    restarted.run(events, stage.committed, len(events))

    assert by_id(stage.found + restarted.found) == uninterrupted


def test_waiting_events_kept_in_the_records_need_no_reading_again(
    events: list[Event], uninterrupted: dict[str, dict]
) -> None:
    cut = 10 * BATCH
    stage = Stage2()
    stage.run(events, 0, cut)
    waiting = stage.engine.queued()
    stage.keep_every_waiting_event()
    assert waiting_in(stage.store.records) >= waiting > 0

    restarted = Stage2(stage.store.records)
    restarted.run(events, cut, len(events))  # nothing read again: all was released
    assert by_id(stage.found + restarted.found) == uninterrupted


def test_an_event_that_only_waits_changes_no_record() -> None:
    """Queueing an event changes nothing the records hold: only applying it does."""
    stage = Stage2()
    event = decoded_corpus()[0]
    stage.engine.take(event, stage.router.routes(event))
    stage.engine.write_changes()
    assert stage.store.records == {}


def test_taking_messages_writes_the_records_that_taking_made_events_writes(
    events: list[Event],
) -> None:
    """The core queues a message's items as bytes and makes their Events only when it applies
    or keeps them: the records it writes, waiting events kept in them too, are the records it
    writes taking each Event made at once."""
    by_message, by_routes = Stage2(), Stage2(by_routes=True)
    for stage in (by_message, by_routes):
        stage.run(events, 0, 10 * BATCH)
        stage.keep_every_waiting_event()
        stage.run(events, 10 * BATCH, 12 * BATCH)
    assert by_message.store.records == by_routes.store.records
    assert by_id(by_message.found) == by_id(by_routes.found)
    assert waiting_in(by_message.store.records) > 0
