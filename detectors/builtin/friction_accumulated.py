"""`friction_accumulated`: a customer who has met friction again and again within a period.

One slow page is forgiven; several frictions in a day lose a customer. This detector reads the
other detectors' findings, not events (`FindingDetector`), keyed by customer, and reports the
customer once N of them lie within the period, for CX outreach.
"""

from __future__ import annotations

from friction_detector.detectors.api import Context, FindingDetector, Param
from friction_detector.detectors.events import Event
from friction_detector.detectors.findings import SEVERITIES
from friction_detector.detectors.timefmt import format_time

ESCALATE = "escalate"
_TIME, _ID, _DETECTOR, _KIND, _SEVERITY = range(5)  # a counted finding in the state's "f"


def customer_key(event: Event) -> str | None:
    """The customer a finding belongs to: its `user_id`, else its session, else nobody."""
    if event.user_id:
        return "user:" + event.user_id
    if event.session_id:
        return "session:" + event.session_id
    return None


def escalated(severities: list[str]) -> str:
    """One level above the highest of `severities`, `critical` at most."""
    highest = max(SEVERITIES.index(severity) for severity in severities)
    return SEVERITIES[min(highest + 1, len(SEVERITIES) - 1)]


class FrictionAccumulated(FindingDetector):
    """Findings count in event-time order; once `min_findings` of them lie within `period_s`,
    one finding lists them, and only findings after them count towards the next."""

    name = "friction_accumulated"
    description = (
        "N or more findings of one customer (user, else session) within the period; one per N."
    )
    params = {
        "min_findings": Param(3, "this many findings of one customer make one", minimum=2),
        "period_s": Param(86400, "the findings lie within this of each other", minimum=1),
        "severity": Param(
            ESCALATE,
            "the finding's severity; escalate: one above the highest it lists",
            choices=(ESCALATE, *SEVERITIES),
        ),
    }
    min_findings: int
    period_s: int
    severity: str

    def state_ttl_ms(self) -> int:
        return self.period_s * 1000

    def key(self, event: Event) -> str | None:
        return customer_key(event)

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        attrs = event.attrs
        found = [event.time, event.event_id, attrs["detector"], attrs["kind"], attrs["severity"]]
        spent = state.get("spent")  # the last finding a friction_accumulated listed
        if spent is not None and found[:2] <= spent:
            return  # a late finding, older than the last report: it was already decided
        counted = state.setdefault("f", [])
        counted.append(found)
        counted.sort()  # in order already, unless the finding is late
        newest = counted[-1][_TIME]
        counted[:] = [f for f in counted if newest - f[_TIME] <= self.period_s * 1000]
        if len(counted) < self.min_findings:
            return
        self._report(counted, event, ctx)
        state["spent"] = counted[-1][:2]
        state["f"] = []

    def _report(self, counted: list, event: Event, ctx: Context) -> None:
        severities = [f[_SEVERITY] for f in counted]
        detectors = sorted({f[_DETECTOR] for f in counted})
        span_ms = counted[-1][_TIME] - counted[0][_TIME]
        subject = {"user_id": event.user_id} if event.user_id else {"session_id": event.session_id}
        ctx.emit(
            "accumulated",
            severity=escalated(severities) if self.severity == ESCALATE else self.severity,
            subject=subject,
            summary=(
                f"This customer met friction {len(counted)} times within "
                f"{_duration(span_ms)} ({', '.join(detectors)}): reach out."
            ),
            evidence={
                "findings": [
                    {
                        "finding_id": f[_ID],
                        "detector": f[_DETECTOR],
                        "kind": f[_KIND],
                        "severity": f[_SEVERITY],
                        "time": format_time(f[_TIME]),
                    }
                    for f in counted
                ],
                "count": len(counted),
                "min_findings": self.min_findings,
                "period_s": self.period_s,
                "span_ms": span_ms,
            },
            user_id=event.user_id,
            session_id=event.session_id,
            time_ms=counted[-1][_TIME],
        )


def _duration(ms: int) -> str:
    """A span as a person reads it: `40 s`, `12 min`, `5.5 h`."""
    if ms < 120_000:
        return f"{ms / 1000:.0f} s"
    if ms < 7_200_000:
        return f"{ms / 60_000:.0f} min"
    return f"{ms / 3_600_000:.1f} h"
