"""Where alert messages go at the edge: a JSON Lines file, counts for the summary, and metrics."""

from __future__ import annotations

from collections import Counter
from typing import BinaryIO

from friction_detector.detectors.alerts import Alert


class JsonLinesAlertSink:
    """Writes each alert message as one JSON line and counts them by status and alertname."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.counts: Counter[tuple[str, str]] = Counter()

    def __call__(self, alert: Alert) -> None:
        self.out.write(alert.to_json() + b"\n")
        self.counts[(alert.status, alert.alertname)] += 1

    def render(self) -> str:
        """Lines for the replay summary: alerts by status, then by alertname."""
        by_status: Counter[str] = Counter()
        for (status, _), count in self.counts.items():
            by_status[status] += count
        out = [f"alerts: {sum(by_status.values())}"]
        for status in ("firing", "resolved"):
            out.append(f"  {status}: {by_status[status]}")
            out += [
                f"    {name}: {count}"
                for (st, name), count in sorted(self.counts.items())
                if st == status
            ]
        return "\n".join(out)


def count_alert(metrics, alert: Alert) -> None:
    """Update `FrictionMetrics`: the `friction_alerts_total` counter, the firing gauge."""
    labels = alert.labels
    metrics.alerts.labels(labels["alertname"], labels["detector"], alert.status).inc()
    metrics.set_alert_firing(
        labels["alertname"], labels["detector"], labels.get("segment", ""), alert.status == "firing"
    )
