"""Helpers for detector authors: feed events, move the watermark, check findings, no Kafka.

harness = DetectorHarness(MyDetector(threshold_ms=100))
harness.feed(make_event("page_load", "2026-11-22T10:00:00Z", page="/x", duration_ms=500))
harness.advance("2026-11-22T10:05:00Z")
assert harness.kinds() == ["slow_load"]
"""

from __future__ import annotations

import itertools

from friction_detector.detectors.api import Detector
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.events import BadInput, Event, EventDecoder
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.observer import EngineObserver
from friction_detector.detectors.outcomes import Outcome
from friction_detector.detectors.schema import CONTRACT_TYPES, merge_schemas
from friction_detector.detectors.timefmt import parse_time

_ids = itertools.count(1)


def make_event(
    event_type: str,
    time: str | int,
    *,
    event_id: str | None = None,
    user_id: str | None = "u-1",
    session_id: str | None = "s-1",
    **attrs: object,
) -> dict:
    """A contract event as a dict; ids are generated unless given."""
    return {
        "event_id": event_id or f"e-{next(_ids)}",
        "type": event_type,
        "time": time,
        "user_id": user_id,
        "session_id": session_id,
        "attrs": attrs,
    }


def at(time: str | int) -> int:
    """Epoch milliseconds of an RFC 3339 time or of milliseconds already."""
    parsed = parse_time(time)
    if parsed is None:
        raise ValueError(f"not a contract time: {time!r}")
    return parsed


class UndeclaredMeasurement(Exception):
    """A detector called `ctx.observe` with a name missing from its `measurements`."""


class _Recorder(EngineObserver):
    def __init__(self, detectors: tuple[Detector, ...]) -> None:
        self.duplicates = 0
        self.late = 0
        self.measurements: list[tuple[str, float, str]] = []
        self.declared = {d.name: (type(d).__name__, set(d.measurements)) for d in detectors}
        self.undeclared: list[UndeclaredMeasurement] = []

    def on_duplicate(self, detector: str, event: Event) -> None:
        self.duplicates += 1

    def on_late(self, event: Event, watermark: int) -> None:
        self.late += 1

    def on_measurement(
        self, detector: str, measurement: str, seconds: float, segment: str, time_ms: int
    ) -> None:
        cls, declared = self.declared[detector]
        if measurement not in declared:
            self.undeclared.append(
                UndeclaredMeasurement(
                    f"{detector} observed {measurement!r}, which is not in {cls}.measurements: "
                    f"declare it, e.g. measurements = {{{measurement!r}: Measurement("
                    f'metric="friction_{measurement}_seconds", help="...", buckets=(...), '
                    f'label="segment")}}; the worker exports only declared measurements'
                )
            )
        self.measurements.append((measurement, seconds, segment))


class DetectorHarness:
    """Runs detectors through the real engine and decoder, collecting what they report."""

    def __init__(self, *detectors: Detector, allowed_lateness_ms: int = 0) -> None:
        self.recorder = _Recorder(detectors)
        self.engine = Engine(
            detectors, allowed_lateness_ms=allowed_lateness_ms, observer=self.recorder
        )
        self.decoder = EventDecoder(
            merge_schemas([CONTRACT_TYPES] + [d.consumes for d in detectors])
        )
        self.findings: list[Finding] = []
        self.outcomes: list[Outcome] = []  # of findings whose journey was decided, in order
        self.bad: list[BadInput] = []

    def feed(self, *events: dict) -> list[Finding]:
        """Validate and process events in the order given; return the findings that became due."""
        new: list[Finding] = []
        for doc in events:
            decoded = self.decoder.from_object(doc)
            if isinstance(decoded, BadInput):
                self.bad.append(decoded)
                continue
            new.extend(self.engine.process(decoded))
        self.findings.extend(new)
        self.outcomes.extend(self.engine.take_outcomes())
        self._raise_undeclared()
        return new

    def advance(self, time: str | int) -> list[Finding]:
        """Move the watermark to `time`: deadlines and events before it are released."""
        new = self.engine.advance(at(time))
        self.findings.extend(new)
        self.outcomes.extend(self.engine.take_outcomes())
        self._raise_undeclared()
        return new

    def _raise_undeclared(self) -> None:
        """Fail the author's test at once: the worker would export nothing for the value."""
        if self.recorder.undeclared:
            raise self.recorder.undeclared.pop(0)

    def kinds(self) -> list[str]:
        return [finding.kind for finding in self.findings]

    @property
    def duplicates(self) -> int:
        return self.recorder.duplicates

    @property
    def late(self) -> int:
        return self.recorder.late

    @property
    def measurements(self) -> list[tuple[str, float, str]]:
        return self.recorder.measurements
