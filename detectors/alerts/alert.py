"""Alert records in the contract's wire form: one incident, firing then resolved, one stable id."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson
from friction_detector.detectors.timefmt import format_time

STATUSES = ("firing", "resolved")


@dataclass(frozen=True)
class Alert:
    """A contract alert; times are event-time epoch milliseconds, `ends_at_ms` once resolved."""

    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at_ms: int
    value: dict
    ends_at_ms: int | None = None
    alert_id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if not self.alert_id:
            object.__setattr__(self, "alert_id", alert_id_for(self.labels, self.starts_at_ms))

    @property
    def alertname(self) -> str:
        return self.labels["alertname"]

    def to_dict(self) -> dict:
        return {
            "alert_id": self.alert_id,
            "status": self.status,
            "labels": self.labels,
            "annotations": self.annotations,
            "starts_at": format_time(self.starts_at_ms),
            "ends_at": None if self.ends_at_ms is None else format_time(self.ends_at_ms),
            "value": self.value,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())


def alert_id_for(labels: dict[str, str], starts_at_ms: int) -> str:
    """Hash of the label set (alertname included) and the start: same incident, same id."""
    identity = orjson.dumps([labels, starts_at_ms], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(identity).hexdigest()[:32]
