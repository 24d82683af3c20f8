"""The compiled detection core (detectors/core, in Rust): engine.py's engine for replay.

A replay keeps its state in its own process, so nothing needs its records as plain data: the
core holds each key's waiting events, deadlines, seen ids, open outcomes and journey as Rust
values, and calls the Python detectors as engine.py does, visiting keys in the same order, so
its findings, outcomes and observer calls are engine.py's. engine.py stays the reference and
runs wherever records must be plain data (the worker's tables); tests/unit/test_compiled_engine.py
runs both on the same streams and requires the same output. `tracking_engine` is the core that
also gives out the records each batch changed as engine.py's plain data
(tests/unit/test_core_changes.py: the same records engine.py writes back): the first part of
the worker's state in the core (docs/worker.md, Benchmark), measured by bench/worker_engine.py.

The core is optional at install (it needs cargo): without it, `replay_engine` is engine.py's
`Engine`, with the same output, slower.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from friction_detector.detectors.api import Detector
from friction_detector.detectors.engine import (
    DEFAULT_ALLOWED_LATENESS_MS,
    DEFAULT_DEDUP_HORIZON_MS,
    Engine,
)
from friction_detector.detectors.events import event_from_fields
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.observer import EngineObserver
from friction_detector.detectors.outcomes import ABANDONED, COMPLETED, JourneyOutcome, Outcome

try:
    from friction_detector.detectors import _core
except ImportError:  # installed without cargo (pyproject.toml: the core is optional)
    _core = None  # type: ignore[assignment]

__all__ = ["compiled", "load_plain", "replay_engine", "routing_engine", "tracking_engine"]


def compiled() -> bool:
    """Whether the package was built with the compiled core."""
    return _core is not None


def replay_engine(
    detectors: Sequence[Detector],
    *,
    allowed_lateness_ms: int = DEFAULT_ALLOWED_LATENESS_MS,
    dedup_horizon_ms: int = DEFAULT_DEDUP_HORIZON_MS,
    observer: EngineObserver | None = None,
) -> _core.CompiledEngine | Engine:
    """An engine over `detectors` for a run whose state stays in its process: the compiled
    core, with engine.py's interface (`process`, `process_from`, `expect_sources`,
    `advance_sources`, `finish`, `settled`, ...), or engine.py's `Engine` without it."""
    if _core is None:
        return Engine(
            detectors,
            allowed_lateness_ms=allowed_lateness_ms,
            dedup_horizon_ms=dedup_horizon_ms,
            observer=observer,
            keep_events=True,
        )
    return _core_engine(detectors, allowed_lateness_ms, dedup_horizon_ms, observer)


def tracking_engine(
    detectors: Sequence[Detector],
    *,
    allowed_lateness_ms: int = DEFAULT_ALLOWED_LATENESS_MS,
    dedup_horizon_ms: int = DEFAULT_DEDUP_HORIZON_MS,
    observer: EngineObserver | None = None,
    waiting_in_records: bool = True,
) -> _core.CompiledEngine:
    """The compiled core, keeping track of the records it changes: `take_changed` gives each
    changed key's record as engine.py's plain data (None: forgotten), what a store outside the
    process (the worker's changelog) would write after a batch. Needs the core.

    Without `waiting_in_records` the records leave their waiting events out (`p` empty), and
    queueing an event is no change: for a runtime that reads its waiting events again from its
    input after a restart (the worker commits a routed message once its items are applied)."""
    if _core is None:
        raise RuntimeError("the compiled core is not built (it needs cargo at install)")
    return _core_engine(
        detectors, allowed_lateness_ms, dedup_horizon_ms, observer, track_changes=True,
        waiting_in_records=waiting_in_records,
    )  # fmt: skip


def routing_engine(
    detectors: Sequence[Detector], observer: EngineObserver | None = None
) -> _core.CompiledEngine:
    """The compiled core for routing only (`routed_items`: each detector asked for its key, a
    detector whose key raised reported to `observer`); it holds no state. Needs the core."""
    if _core is None:
        raise RuntimeError("the compiled core is not built (it needs cargo at install)")
    return _core_engine(detectors, 0, 0, observer)


def load_plain(
    engine: _core.CompiledEngine,
    records: Iterable[tuple[str, dict]],
    sources: Mapping[str, int],
) -> None:
    """Load into a fresh core the records a store outside the process kept (engine.py's plain
    data, as `take_changed` gave them out) and the input sources' progress, as engine.py's
    `restore` takes them up; records of keys that are no detector's are left out."""
    engine.load(
        ((skey, {**record, "p": [event_from_fields(item) for item in record.get("p", ())]})
         for skey, record in records),
        sources,
    )  # fmt: skip


def _core_engine(
    detectors: Sequence[Detector],
    allowed_lateness_ms: int,
    dedup_horizon_ms: int,
    observer: EngineObserver | None,
    *,
    track_changes: bool = False,
    waiting_in_records: bool = True,
) -> _core.CompiledEngine:
    return _core.CompiledEngine(
        list(detectors),
        (observer or EngineObserver()).hooks(),
        (Finding, Outcome, JourneyOutcome, ABANDONED, COMPLETED),
        allowed_lateness_ms=allowed_lateness_ms,
        dedup_horizon_ms=dedup_horizon_ms,
        track_changes=track_changes,
        waiting_in_records=waiting_in_records,
    )
