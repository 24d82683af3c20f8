"""Outcomes: whether the journey a finding interrupted was completed or abandoned; and of the
journeys no finding interrupted, the base rate they compare with."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from friction_detector.detectors.timefmt import format_time

COMPLETED = "completed"
ABANDONED = "abandoned"
OUTCOMES = (COMPLETED, ABANDONED)


@dataclass(frozen=True)
class Outcome:
    """One finding's outcome, decided in event time: at the completing event's time, or at the
    end of the window; linked to its finding by `finding_id`, and a record type of its own so a
    consumer of the findings topic can tell the two apart. `segment` is the journey's (the
    detector's `journey_segment`: the finding's own, a click finding's page group)."""

    finding_id: str
    detector: str
    kind: str
    outcome: str
    time_ms: int
    segment: str = ""

    def to_dict(self) -> dict:
        return {
            "record_type": "outcome",
            "finding_id": self.finding_id,
            "detector": self.detector,
            "kind": self.kind,
            "outcome": self.outcome,
            "time": format_time(self.time_ms),
            "segment": self.segment,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())


@dataclass(frozen=True)
class JourneyOutcome:
    """A journey of a detector that no finding of it interrupted, decided by the same rule and
    window as a finding's outcome: counted (the base rate), never written as a record, since
    nothing happened to the customer that a consumer would act on."""

    detector: str
    segment: str
    outcome: str
    time_ms: int
