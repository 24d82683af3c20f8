"""Findings: one friction moment of one customer, with an id that the same input always gives."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson
from friction_detector.detectors.timefmt import format_time

SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class Finding:
    """A contract finding; `time_ms` is the event time at which the moment was established."""

    detector: str
    kind: str
    severity: str
    time_ms: int
    subject: dict
    summary: str
    evidence: dict
    user_id: str | None = None
    session_id: str | None = None
    segment: str = ""
    finding_id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")
        _refuse_unencodable(self)  # before the id, which hashes the subject
        if not self.finding_id:
            object.__setattr__(self, "finding_id", finding_id_for(self))

    def to_dict(self) -> dict:
        """The wire form of the contract (plus `segment`, the low-cardinality group alerts use)."""
        return {
            "finding_id": self.finding_id,
            "detector": self.detector,
            "kind": self.kind,
            "severity": self.severity,
            "time": format_time(self.time_ms),
            "user_id": self.user_id,
            "session_id": self.session_id,
            "subject": self.subject,
            "segment": self.segment,
            "summary": self.summary,
            "evidence": self.evidence,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())


def finding_id_for(finding: Finding) -> str:
    """Hash of what identifies the moment, so replays and redeliveries give the same id."""
    identity = orjson.dumps(
        [finding.detector, finding.kind, finding.subject, finding.time_ms],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(identity).hexdigest()[:32]


def _refuse_unencodable(finding: Finding) -> None:
    """Refuse, as it is made, a finding that could not be written out (a set in `evidence`):
    made inside a detector's reaction, it is that detector's error, which the engine reports
    and the run outlives, where writing it later would stop the run."""
    given = {
        "kind": finding.kind,
        "subject": finding.subject,
        "summary": finding.summary,
        "evidence": finding.evidence,
        "user_id": finding.user_id,
        "session_id": finding.session_id,
        "segment": finding.segment,
    }
    try:
        orjson.dumps(given)
    except orjson.JSONEncodeError:
        for name, value in given.items():
            try:
                orjson.dumps(value)
            except orjson.JSONEncodeError as err:
                raise TypeError(f"finding {name} cannot be written as JSON: {err}") from None
        raise
