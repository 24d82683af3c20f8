"""What the webhook sends: each finding, outcome or alert as a typed record, filtered by the
settings.

A record is `{"record_type": "finding", "finding": {...}}`: the type says which key holds the
contract object, so a record type (the outcome) adds a key without changing the others.
The body of one delivery is built once and sent unchanged on every retry, so a receiver can
de-duplicate by `delivery_id` as well as by `finding_id` or (`alert_id`, `status`).
"""

from __future__ import annotations

import uuid
from typing import NamedTuple

import orjson
from friction_detector.detectors.alerts import Alert
from friction_detector.detectors.findings import SEVERITIES, Finding
from friction_detector.detectors.outcomes import Outcome
from friction_detector.streams.webhook.settings import WebhookSettings

PAYLOAD_VERSION = 1
_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


class Record(NamedTuple):
    """One record of a delivery: its type and the contract object in wire form."""

    record_type: str
    body: dict

    def to_dict(self) -> dict:
        return {"record_type": self.record_type, self.record_type: self.body}


class RecordFilter:
    """Which findings, outcomes and alerts the endpoint wants: record type, detector, kind,
    severity.

    An alert has no kind (a rule may count several): the `kinds` filter applies to findings and
    outcomes (an outcome's kind is its finding's); an alert's detector and severity are its
    labels. An outcome has no severity, so `min_severity` does not filter it: a receiver that
    wants only the outcomes of the findings it was sent filters both by `kinds`.
    """

    def __init__(self, settings: WebhookSettings) -> None:
        self.types = frozenset(settings.record_types)
        self.detectors = frozenset(settings.detectors)
        self.kinds = frozenset(settings.kinds)
        self.min_rank = _RANK[settings.min_severity]

    def _passes(self, detector: str, severity: str) -> bool:
        if self.detectors and detector not in self.detectors:
            return False
        return _RANK.get(severity, -1) >= self.min_rank

    def finding(self, finding: Finding) -> bool:
        if "finding" not in self.types or (self.kinds and finding.kind not in self.kinds):
            return False
        return self._passes(finding.detector, finding.severity)

    def outcome(self, outcome: Outcome) -> bool:
        if "outcome" not in self.types or (self.kinds and outcome.kind not in self.kinds):
            return False
        return not self.detectors or outcome.detector in self.detectors

    def alert(self, alert: Alert) -> bool:
        if "alert" not in self.types:
            return False
        labels = alert.labels
        return self._passes(labels.get("detector", ""), labels.get("severity", ""))


def finding_record(finding: Finding) -> Record:
    return Record("finding", finding.to_dict())


def outcome_record(outcome: Outcome) -> Record:
    """The outcome as on the findings topic."""
    return Record("outcome", outcome.to_dict())


def alert_record(alert: Alert) -> Record:
    return Record("alert", alert.to_dict())


def delivery_body(records: list[Record], origin: str, delivery_id: str | None = None) -> bytes:
    """The JSON body of one POST (docs/webhook.schema.json): version, id, origin, records."""
    return orjson.dumps(
        {
            "version": PAYLOAD_VERSION,
            "delivery_id": delivery_id or uuid.uuid4().hex,
            "origin": origin,
            "records": [record.to_dict() for record in records],
        }
    )
