"""The compiled core for a runtime whose state lives in a store outside its process: the worker.

The worker's state is its Faust table, changelogged to Kafka; engine.py keeps every key's record
in it as plain data and writes each change back as it makes it. The compiled core keeps its
records as Rust values instead and writes the changed ones to the store once per batch
(`write_changes`, before the batch's changes are sealed). A store that serializes its records
as JSON itself (the worker's partition store, whose changelog is Faust's "json" codec) says so by
its `serializer`, and then gets each record's bytes, written by the core (serialized.rs) as that
serializer writes the record as engine.py's plain data: giving the records out as Python dicts
and serializing those cost as much as the core's detection saves. Any other store gets the plain
data. Either way the table and its changelog hold the records engine.py would have written, and
a partition restored from them (`restore`) goes on as engine.py restored from the same records
would (tests/unit/test_core_changes.py, test_core_serialized.py, test_stored_core.py). Without
the core the worker runs engine.py (`worker_engine`).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from functools import partial
from typing import Any

import orjson
from friction_detector.detectors.api import Detector
from friction_detector.detectors.compiled import compiled, load_plain, tracking_engine
from friction_detector.detectors.engine import KEY_SEPARATOR, SOURCES_KEY, Engine
from friction_detector.detectors.events import Event
from friction_detector.detectors.observer import EngineObserver


class StoredCoreEngine:
    """engine.py's `Engine` as the worker uses it, on the compiled core, over `store`."""

    def __init__(
        self,
        detectors: Sequence[Detector],
        *,
        allowed_lateness_ms: int,
        dedup_horizon_ms: int,
        store: MutableMapping[str, Any],
        observer: EngineObserver | None = None,
        sources_key: str = SOURCES_KEY,
        waiting_in_records: bool = True,
    ) -> None:
        """Without `waiting_in_records`, records are written without their waiting events
        (`tracking_engine`): the runtime reads those again from its input after a restart."""
        self.detectors = {detector.name: detector for detector in detectors}
        self.store = store
        self.serializer: Callable[[Any], bytes] | None = getattr(store, "serializer", None)
        self.sources_key = sources_key
        core = tracking_engine(
            detectors,
            allowed_lateness_ms=allowed_lateness_ms,
            dedup_horizon_ms=dedup_horizon_ms,
            observer=observer,
            waiting_in_records=waiting_in_records,
        )
        self._core = core
        self._sources_written: dict[str, int] = {}
        self.take = core.take
        self.take_message = partial(core.take_message, event_class=Event, loads=orjson.loads)
        self.advance_sources = core.advance_sources
        self.expect_sources = core.expect_sources
        self.keep_waiting = core.keep_waiting
        self.take_findings = core.take_findings
        self.take_outcomes = core.take_outcomes
        self.settled = core.settled
        self.queued = core.queued
        self.state_keys = core.state_keys

    def restore(self) -> None:
        """Take up the records and the sources' progress the store holds (after recovery or a
        rebalance): only into an engine that has held nothing yet."""
        sources = self.store.get(self.sources_key) or {}
        records = ((skey, orjson.loads(record) if isinstance(record, bytes) else record)
                   for skey, record in self.store.items() if skey != self.sources_key)  # fmt: skip
        load_plain(self._core, records, sources)
        self._sources_written = dict(sources)

    def forget_sources(self, keep: Callable[[str], bool]) -> None:
        """Drop sources no longer read; the store hears of it with the next changes."""
        self._core.forget_sources(keep)

    def drop(self, skey: str) -> None:
        """Forget a detector key's state, as if it had expired (engine.py's `drop`)."""
        if skey.split(KEY_SEPARATOR, 1)[0] in self.detectors:
            self._core.drop(skey)

    def write_changes(self) -> None:
        """Write to the store every record changed since the last call (a deletion for a key
        forgotten), serialized if the store has a `serializer`, and the sources' progress if
        it moved."""
        store = self.store
        core, serializer = self._core, self.serializer
        changes = (core.take_changed() if serializer is None
                   else core.take_changed_serialized(serializer))  # fmt: skip
        for skey, record in changes:
            if record is None:
                store.pop(skey, None)
            else:
                store[skey] = record
        sources = self._core.sources()
        if sources != self._sources_written:
            store[self.sources_key] = sources
            self._sources_written = sources


WorkerEngine = StoredCoreEngine | Engine


def worker_engine(
    detectors: Sequence[Detector],
    *,
    allowed_lateness_ms: int,
    dedup_horizon_ms: int,
    store: MutableMapping[str, Any],
    observer: EngineObserver | None = None,
    sources_key: str = SOURCES_KEY,
    waiting_in_records: bool = True,
) -> WorkerEngine:
    """The engine over a store outside the process: the compiled core where it is built, else
    engine.py, whose records the store holds alike.

    Without `waiting_in_records` (a runtime that reads its waiting events again from its input
    after a restart), the core writes records without their waiting events. engine.py writes
    them whatever this says (its store holds its live records): an event both restored and
    read again is then applied once, the second a duplicate by its id."""
    make: Callable[..., WorkerEngine] = (
        partial(StoredCoreEngine, waiting_in_records=waiting_in_records) if compiled() else Engine
    )
    return make(
        detectors,
        allowed_lateness_ms=allowed_lateness_ms,
        dedup_horizon_ms=dedup_horizon_ms,
        store=store,
        observer=observer,
        sources_key=sources_key,
    )
