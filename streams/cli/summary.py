"""Counts of what a run saw: the replay summary, printed to standard error."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from friction_detector.detectors.events import BadInput, Event
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.observer import EngineObserver
from friction_detector.detectors.outcomes import COMPLETED, JourneyOutcome, Outcome
from friction_detector.streams.dead_letter import detector_error_input

# A larger share of accepted events behind the watermark makes replay say how to avoid it.
LATE_WARNING_SHARE = 0.01


class RunSummary(EngineObserver):
    """Counts events, bad input, duplicates, late events, findings and detector errors.

    An event a detector raised on goes to `dead_letter` (when given) as bad input, so a
    plugin's bug loses no event silently.
    """

    def __init__(
        self,
        dead_letter: Callable[[BadInput, int | str], None] | None = None,
        find: Callable[[Event], tuple[int | str, bytes] | None] | None = None,
    ) -> None:
        self.dead_letter = dead_letter
        # Where an event was read and its message (positions.py); unknown: its event_id and
        # the event as the engine holds it.
        self.find = find
        self.detector_errors: Counter[str] = Counter()
        self.events = 0  # accepted events: counted by the run, which sees each one
        self.bad: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.late = 0
        self.findings: Counter[tuple[str, str]] = Counter()
        # Decided journeys by (detector, completed?): after friction (outcomes), and without.
        self.outcomes: Counter[tuple[str, bool]] = Counter()
        self.journeys: Counter[tuple[str, bool]] = Counter()
        self.deadlines_ahead = 0  # deadlines the input ended before: set by the run
        self.lines_read = 0  # the run's input lines, and how long it took: set by the run
        self.elapsed_s = 0.0

    def on_late(self, event: Event, watermark: int) -> None:
        self.late += 1

    def on_duplicate(self, detector: str, event: Event) -> None:
        self.duplicates[detector] += 1

    def on_detector_error(self, detector: str, event: Event | None, error: Exception) -> None:
        self.detector_errors[detector] += 1
        if event is None or self.dead_letter is None:
            return
        bad = detector_error_input(detector, event, error)
        found = self.find(event) if self.find is not None else None
        if found is None:
            self.dead_letter(bad, event.event_id)
        else:
            position, message = found
            self.dead_letter(bad._replace(raw=message), position)

    def on_finding(self, finding: Finding) -> None:
        self.findings[(finding.detector, finding.kind)] += 1

    def on_outcome(self, outcome: Outcome) -> None:
        self.outcomes[(outcome.detector, outcome.outcome == COMPLETED)] += 1

    def on_journey(self, journey: JourneyOutcome) -> None:
        self.journeys[(journey.detector, journey.outcome == COMPLETED)] += 1

    def late_warning(self, sourced: bool, sorted_input: bool) -> str | None:
        """One line when over `LATE_WARNING_SHARE` of the accepted events were late: the input
        is out of event-time order, and findings may differ from the live stream's."""
        if not self.events or self.late <= LATE_WARNING_SHARE * self.events:
            return None
        remedies = []
        if not sourced:
            remedies.append(
                "a Kafka dump made with `friction tail --with-source` replays as the worker "
                "read it with --sourced"
            )
        if not sorted_input:
            remedies.append("--sort orders a file by event time first")
        advice = f" ({'; '.join(remedies)})" if remedies else ""
        return (
            f"friction replay: warning: {self.late:,} of {self.events:,} accepted events "
            f"({self.late / self.events:.1%}) were behind the watermark and applied late"
            f"{advice}"
        )

    def render(self) -> str:
        lines_read, seconds = self.lines_read, self.elapsed_s
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
        if self.detector_errors:
            out.append(
                f"detector errors (events in the dead letters): "
                f"{sum(self.detector_errors.values())}"
            )
            out += [f"  {name}: {n}" for name, n in sorted(self.detector_errors.items())]
        if self.deadlines_ahead:
            out.append(
                f"deadlines not evaluated (the input ended before them): {self.deadlines_ahead}"
            )
        out.append(f"findings: {sum(self.findings.values())}")
        out += [f"  {det} {kind}: {count}" for (det, kind), count in sorted(self.findings.items())]
        out += self._friction_cost()
        return "\n".join(out)

    def _friction_cost(self) -> list[str]:
        """Per journey detector: completed journeys after friction and without, of those decided."""
        detectors = sorted({d for d, _ in self.outcomes} | {d for d, _ in self.journeys})
        if not detectors:
            return []
        out = ["journeys completed (after friction / without friction, of those decided):"]
        for name in detectors:
            after = _share(self.outcomes[(name, True)], self.outcomes[(name, False)])
            without = _share(self.journeys[(name, True)], self.journeys[(name, False)])
            out.append(f"  {name}: {after} / {without}")
        return out


def _share(completed: int, abandoned: int) -> str:
    decided = completed + abandoned
    if not decided:
        return "none decided"
    return f"{completed} of {decided} ({completed / decided:.0%})"
