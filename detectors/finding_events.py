"""Findings as events, so the detectors over findings (`FindingDetector`) run in an `Engine`.

A finding becomes an event whose id is its `finding_id` (a finding sent again, after a crash,
is a duplicate the engine skips), whose time is the finding's time, with the finding's
`user_id` and `session_id` and, in `attrs`, its detector, kind and severity. The engine's event
time, keyed state, de-duplication and expiry then serve these detectors unchanged.

Their engine has no allowed lateness of its own. It follows `Engine.settled()` of the event
engine: the event time before which every finding has been emitted (a finding of time t comes
out once the events or the deadline behind it are due, which is when the watermark passes t,
or later for an event queued behind a later arrival). So it has every finding before t when it
passes t, and sees each customer's findings in event-time order, whatever order they were
emitted in; only a finding of a late event comes late here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from friction_detector.detectors.api import FINDING_EVENT_TYPE, Detector
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.events import Event
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.observer import EngineObserver

FOLLOW_EVERY = 1024  # lines read between two moves of `FindingStage.follow`, at least


def finding_event(finding: Finding) -> Event:
    """The event a detector over findings reads for `finding`."""
    attrs = {"detector": finding.detector, "kind": finding.kind, "severity": finding.severity}
    return Event(
        finding.finding_id,
        FINDING_EVENT_TYPE,
        finding.time_ms,
        finding.user_id,
        finding.session_id,
        attrs,
    )


class FindingsOnly(EngineObserver):
    """Passes on what detectors over findings report that is theirs: their findings, key
    counts and errors. Their input is findings, already counted where they were emitted: a
    finding of a late event is late here too, and is not a second late event."""

    passes_on = frozenset({"on_finding", "on_state_size", "on_detector_error"})

    def __init__(self, observer: EngineObserver) -> None:
        self.observer = observer

    def passed_to(self) -> EngineObserver:
        return self.observer


class EventClock(Protocol):
    """What `FindingStage.follow` reads of the engine of events: engine.py's or the compiled."""

    def settled(self) -> int: ...

    def queued(self) -> int: ...


class FindingStage:
    """The detectors over findings in one process (replay, the test harness): the event
    engine's findings go in as they are emitted, and its `settled()` time moves this one."""

    def __init__(
        self,
        detectors: Sequence[Detector],
        *,
        dedup_horizon_ms: int,
        observer: EngineObserver | None = None,
    ) -> None:
        self.engine = Engine(
            detectors,
            allowed_lateness_ms=0,
            dedup_horizon_ms=dedup_horizon_ms,
            observer=FindingsOnly(observer or EngineObserver()),
        )
        self._next = FOLLOW_EVERY  # the run's line count at the next move (`follow`)

    def take(self, findings: Iterable[Finding]) -> None:
        """Queue findings of the event detectors, each at its customer's key."""
        engine = self.engine
        for finding in findings:
            event = finding_event(finding)
            engine.take(event, engine.routes(event))

    def advance(self, settled: int) -> list[Finding]:
        """Follow the event engine's `settled()` time; the findings that became due."""
        return self.engine.advance(settled)

    def follow(self, engine: EventClock, lines: int) -> list[Finding]:
        """`advance` to `engine.settled()` once the run has read, since the last move, as many
        lines as the engine had arrivals queued then (at least `FOLLOW_EVERY`): engine.py reads
        them all for the settled time. A run calls this every so many lines, not per event;
        when it moves changes when findings come, not which."""
        if lines < self._next:
            return []
        self._next = lines + max(FOLLOW_EVERY, engine.queued())
        return self.advance(engine.settled())

    def finish(self) -> list[Finding]:
        """The end of the input: every finding still waiting is applied (`Engine.finish`)."""
        return self.engine.finish()
