"""Helpers for detector authors: feed events, move the watermark, check findings, no Kafka.

harness = DetectorHarness(MyDetector(threshold_ms=100))
harness.feed(make_event("page_load", "2026-11-22T10:00:00Z", page="/x", duration_ms=500))
harness.advance("2026-11-22T10:05:00Z")
assert harness.kinds() == ["slow_load"]

A detector over findings (`FindingDetector`) runs behind the others, as in replay: give it
with the detectors whose findings it reads, or feed it findings with `feed_findings`.

An exception a detector raises fails the test: the harness raises it again, noted with the
detector's name, where a run would count it and go on without the detector.
"""

from __future__ import annotations

import itertools

from friction_detector.detectors.api import Detector, FindingDetector
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.events import BadInput, Event, EventDecoder
from friction_detector.detectors.finding_events import FindingStage
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.observer import EngineObserver
from friction_detector.detectors.outcomes import JourneyOutcome, Outcome
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


def _fail_loudly(detector: str, event: Event | None, error: Exception) -> Exception:
    """The detector's own exception, noted with who raised it and where: the engine would go on
    without the detector, but an author's test must fail on the bug, with its traceback."""
    where = f"on event {event.event_id!r}" if event is not None else "at a deadline"
    error.add_note(f"raised by detector {detector!r} {where} (the harness re-raises it)")
    return error


class _Recorder(EngineObserver):
    def __init__(self, detectors: tuple[Detector, ...]) -> None:
        self.duplicates = 0
        self.late = 0
        self.measurements: list[tuple[str, float, str]] = []
        self.declared = {d.name: (type(d).__name__, set(d.measurements)) for d in detectors}
        self.undeclared: list[UndeclaredMeasurement] = []
        self.journeys: list[JourneyOutcome] = []
        self.errors: list[Exception] = []

    def on_detector_error(self, detector: str, event: Event | None, error: Exception) -> None:
        self.errors.append(_fail_loudly(detector, event, error))

    def on_journey(self, journey: JourneyOutcome) -> None:
        self.journeys.append(journey)

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
        over_events = [d for d in detectors if not isinstance(d, FindingDetector)]
        over_findings = [d for d in detectors if isinstance(d, FindingDetector)]
        self.engine = Engine(
            over_events, allowed_lateness_ms=allowed_lateness_ms, observer=self.recorder
        )
        self.stage = (
            FindingStage(
                over_findings, dedup_horizon_ms=self.engine.dedup_horizon_ms, observer=self.recorder
            )
            if over_findings
            else None
        )
        self.decoder = EventDecoder(
            merge_schemas([CONTRACT_TYPES] + [d.consumes for d in over_events])
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
        return self._found(new)

    def feed_findings(self, *findings: Finding) -> list[Finding]:
        """Hand findings to the detectors over findings as if the others had emitted them;
        they are due once the watermark passes their time (`advance`)."""
        if self.stage is None:
            raise ValueError("feed_findings needs a detector over findings (FindingDetector)")
        self.stage.take(findings)
        return self._found([])

    def advance(self, time: str | int) -> list[Finding]:
        """Move the watermark to `time`: deadlines and events before it are released."""
        return self._found(self.engine.advance(at(time)))

    def _found(self, new: list[Finding]) -> list[Finding]:
        """Record what the event detectors found, and what the detectors over findings then
        found (they follow the engine's settled time)."""
        if self.stage is not None:
            self.stage.take(new)
            new = new + self.stage.advance(self.engine.settled())
        self.findings.extend(new)
        self.outcomes.extend(self.engine.take_outcomes())
        self._raise_reported()
        return new

    def _raise_reported(self) -> None:
        """Fail the author's test at once on a detector's exception (a run would count it and
        go on without the detector) or on an undeclared measurement (the worker would export
        nothing for the value)."""
        if self.recorder.errors:
            first = self.recorder.errors[0]
            self.recorder.errors.clear()
            raise first
        if self.recorder.undeclared:
            raise self.recorder.undeclared.pop(0)

    def kinds(self) -> list[str]:
        return [finding.kind for finding in self.findings]

    @property
    def journeys(self) -> list[JourneyOutcome]:
        """Journeys no finding interrupted, decided like outcomes (the base rate), in order."""
        return self.recorder.journeys

    @property
    def duplicates(self) -> int:
        return self.recorder.duplicates

    @property
    def late(self) -> int:
        return self.recorder.late

    @property
    def measurements(self) -> list[tuple[str, float, str]]:
        return self.recorder.measurements
