"""Counts of what a run saw: the replay summary, printed to standard error."""

from __future__ import annotations

from collections import Counter

from detectors.events import Event
from detectors.findings import Finding
from detectors.observer import EngineObserver


class RunSummary(EngineObserver):
    """Counts events, bad input, duplicates, late events and findings."""

    def __init__(self) -> None:
        self.events = 0
        self.bad: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.late = 0
        self.findings: Counter[tuple[str, str]] = Counter()

    def on_event(self, event: Event) -> None:
        self.events += 1

    def on_late(self, event: Event, watermark: int) -> None:
        self.late += 1

    def on_duplicate(self, detector: str, event: Event) -> None:
        self.duplicates[detector] += 1

    def on_finding(self, finding: Finding) -> None:
        self.findings[(finding.detector, finding.kind)] += 1

    def render(self, lines_read: int, seconds: float) -> str:
        rate = lines_read / seconds if seconds > 0 else 0.0
        out = [
            f"lines read: {lines_read} in {seconds:.2f} s ({rate:,.0f}/s)",
            f"events accepted: {self.events}",
            f"bad lines: {sum(self.bad.values())}",
        ]
        out += [f"  {reason}: {count}" for reason, count in sorted(self.bad.items())]
        out.append(f"duplicate deliveries dropped: {sum(self.duplicates.values())}")
        out += [f"  {name}: {count}" for name, count in sorted(self.duplicates.items())]
        out.append(f"late events (behind the watermark, still applied): {self.late}")
        out.append(f"findings: {sum(self.findings.values())}")
        out += [f"  {det} {kind}: {count}" for (det, kind), count in sorted(self.findings.items())]
        return "\n".join(out)
