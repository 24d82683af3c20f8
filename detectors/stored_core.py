"""The compiled core for a runtime whose state lives in a store outside its process.

The worker's state is its Faust table, changelogged to Kafka; engine.py keeps every key's record
in it as plain data and writes each change back as it makes it. `StoredCoreEngine` is the worker's
interface to an engine (`take`, `advance_sources`, `restore`, `drop`, ...) on the compiled core:
it keeps its records as Rust values and writes the changed ones to the store as engine.py's
plain data once per batch (`write_changes`, before the batch is sealed), so the store holds
exactly what engine.py would have written, and a partition restored from it goes on as
engine.py restored from the same records would (tests/unit/test_core_changes.py,
tests/unit/test_stored_core.py). The worker still runs engine.py: wired into it, this engine
passed the worker's integration tests (kills, rebalances, parity with replay) and ran at the
same rate (`bench/peer --reference`, 0.99x to 1.06x): its detection costs half of engine.py's,
and giving out and writing the changed records costs the rest (docs/worker.md, Benchmark).
bench/worker_engine.py `--core` measures it.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence

from friction_detector.detectors.api import Detector
from friction_detector.detectors.compiled import load_plain, tracking_engine
from friction_detector.detectors.engine import KEY_SEPARATOR, SOURCES_KEY
from friction_detector.detectors.observer import EngineObserver


class StoredCoreEngine:
    """engine.py's `Engine` as the worker uses it, on the compiled core, over `store`."""

    def __init__(
        self,
        detectors: Sequence[Detector],
        *,
        allowed_lateness_ms: int,
        dedup_horizon_ms: int,
        store: MutableMapping[str, dict],
        observer: EngineObserver | None = None,
        sources_key: str = SOURCES_KEY,
    ) -> None:
        self.detectors = {detector.name: detector for detector in detectors}
        self.store = store
        self.sources_key = sources_key
        core = tracking_engine(
            detectors,
            allowed_lateness_ms=allowed_lateness_ms,
            dedup_horizon_ms=dedup_horizon_ms,
            observer=observer,
        )
        self._core = core
        self._sources_written: dict[str, int] = {}
        self.take = core.take
        self.advance_sources = core.advance_sources
        self.expect_sources = core.expect_sources
        self.take_findings = core.take_findings
        self.take_outcomes = core.take_outcomes
        self.settled = core.settled
        self.queued = core.queued
        self.state_keys = core.state_keys

    def restore(self) -> None:
        """Take up the records and the sources' progress the store holds (after recovery or a
        rebalance): only into an engine that has held nothing yet."""
        sources = self.store.get(self.sources_key) or {}
        records = ((skey, record) for skey, record in self.store.items()
                   if skey != self.sources_key)  # fmt: skip
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
        forgotten) and the sources' progress if it moved."""
        store = self.store
        for skey, record in self._core.take_changed():
            if record is None:
                store.pop(skey, None)
            else:
                store[skey] = record
        sources = self._core.sources()
        if sources != self._sources_written:
            store[self.sources_key] = sources
            self._sources_written = sources
