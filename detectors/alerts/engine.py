"""The alert engine: findings and measurements in, firing and resolved alerts out, in event time.

It is an `EngineObserver`. Findings and measurements are counted in event-time buckets per
(detector, segment); each time the watermark crosses a bucket boundary, every rule is evaluated
for every segment over the window that ends there. Evaluating only at boundaries the watermark
has passed makes the result independent of how events were batched: a replay of a day gives the
same alerts every time, and the same as the live worker.

Per rule and segment: `pending` when the condition first holds, `firing` once it has held for
`for_s` (starts_at = when it first held), `resolved` once the value stayed under
`resolve_below` (or the count under `min_count`) for `resolve_after_s`. Its `alert_id` hashes
the labels and starts_at, so the firing and resolved messages of one incident share it.
"""

from __future__ import annotations

from collections.abc import Callable

from friction_detector.detectors.alerts.alert import Alert
from friction_detector.detectors.alerts.baseline import Baseline
from friction_detector.detectors.alerts.rules import AlertRule, AlertSettings
from friction_detector.detectors.alerts.windows import (
    WindowCounts,
    finding_series,
    measurement_series,
)
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.observer import EngineObserver
from friction_detector.detectors.timefmt import format_time

SNAPSHOT_VERSION = 1


class AlertEngine(EngineObserver):
    """Rules over sliding windows; each alert goes to `sink`, or waits for `take_alerts()`."""

    def __init__(
        self, settings: AlertSettings, sink: Callable[[Alert], None] | None = None
    ) -> None:
        self.settings = settings
        self.rules = settings.rules
        self.sink = sink
        self.bucket_ms = settings.bucket_s * 1000
        self.windows = WindowCounts(self.bucket_ms, settings.max_segments)
        self.horizon_ms = max((r.window_s for r in self.rules), default=0) * 1000
        self.baselines = {
            r.alertname: Baseline(settings.bucket_s, r.half_life_s, r.warmup_s, r.seasonality)
            for r in self.rules
            if r.condition == "baseline"
        }
        # alertname -> segment -> {"pending": ms, "calm": ms, "firing": alert dict, "peak": v}
        self.states: dict[str, dict[str, dict]] = {r.alertname: {} for r in self.rules}
        self.evaluated_to: int | None = None
        self.clock: int | None = None
        self._out: list[Alert] = []

    # -- input ---------------------------------------------------------------------------

    def on_finding(self, finding: Finding) -> None:
        self.windows.add(
            finding.detector, finding.segment, finding_series(finding.kind), finding.time_ms
        )

    def on_measurement(
        self, detector: str, measurement: str, seconds: float, segment: str, time_ms: int
    ) -> None:
        self.windows.add(detector, segment, measurement_series(measurement), time_ms)

    def add_count(self, detector: str, segment: str, series: str, time_ms: int, n: int) -> None:
        """Merge counts pre-aggregated elsewhere (one worker per partition): `f:kind`, `m:name`."""
        self.windows.add(detector, segment, series, time_ms, n)

    def on_watermark(self, watermark: int) -> None:
        self.advance(watermark)

    def advance(self, watermark: int) -> None:
        """Evaluate every bucket boundary the watermark has passed (the worker calls this when
        it merges counts itself; otherwise the engine's watermark hook does)."""
        self.clock = watermark
        boundary = watermark - watermark % self.bucket_ms
        if self.evaluated_to is None:
            self.evaluated_to = boundary
        if self.evaluated_to + self.bucket_ms > watermark:
            return
        while self.evaluated_to + self.bucket_ms <= watermark:
            self.evaluated_to += self.bucket_ms
            self._evaluate(self.evaluated_to)
        self.windows.prune(self.evaluated_to - self.horizon_ms)

    def take_alerts(self) -> list[Alert]:
        """Alerts emitted since the last call, in order (when there is no sink)."""
        out, self._out = self._out, []
        return out

    def firing(self) -> list[Alert]:
        """Alerts firing now: what a restarted worker re-sends to Alertmanager."""
        return [
            _alert_of(state["firing"])
            for segments in self.states.values()
            for state in segments.values()
            if state.get("firing")
        ]

    # -- evaluation ----------------------------------------------------------------------

    def _evaluate(self, at: int) -> None:
        for rule in self.rules:
            states = self.states[rule.alertname]
            baseline = self.baselines.get(rule.alertname)
            segments = set(self.windows.segments(rule.detector)) | set(states)
            if baseline is not None:
                segments |= set(baseline.segments())
            for segment in sorted(segments):
                figures = self._figures(rule, segment, at, baseline)
                state = states.setdefault(segment, {})
                self._step(rule, segment, state, figures, at)
                if baseline is not None and not state:
                    baseline.learn(segment, at, figures["rate"])
                if not state:
                    del states[segment]
            if baseline is not None:
                baseline.tick(at)

    def _figures(self, rule: AlertRule, segment: str, at: int, baseline: Baseline | None) -> dict:
        start = at - rule.window_s * 1000
        windows = self.windows
        kinds = tuple(finding_series(k) for k in rule.kinds)
        if not kinds:
            kinds = windows.series(rule.detector, segment, "f:")
        count = windows.total(rule.detector, segment, kinds, start, at)
        rate = count * 60 / rule.window_s
        figures: dict = {"count": count, "rate": round(rate, 4)}
        eligible = count >= rule.min_count
        if rule.condition == "rate":
            value = rate
        elif rule.condition == "share":
            series = tuple(finding_series(k) for k in rule.sample_kinds)
            if rule.measurement:
                series += (measurement_series(rule.measurement),)
            samples = windows.total(rule.detector, segment, series, start, at)
            value = count / samples if samples else 0.0
            figures.update(samples=samples, share=round(value, 4))
            eligible = eligible and samples >= rule.min_samples
        else:
            assert baseline is not None, "every baseline rule has its Baseline (see __init__)"
            usual = baseline.usual(segment, at)
            value = rate / max(usual, rule.baseline_floor)
            figures.update(baseline=round(usual, 4), ratio=round(value, 4))
            eligible = eligible and baseline.warm(at)
        figures["value"] = value
        figures["above"] = eligible and value >= rule.threshold
        figures["calm"] = count < rule.min_count or value < rule.resolve_below
        return figures

    def _step(self, rule: AlertRule, segment: str, state: dict, figures: dict, at: int) -> None:
        firing = state.get("firing")
        if firing is None:
            if not figures["above"]:
                state.pop("pending", None)
                return
            pending = state.setdefault("pending", at)
            if at - pending >= rule.for_s * 1000:
                del state["pending"]
                state["peak"] = figures["value"]
                alert = self._alert(rule, segment, "firing", pending, None, figures, state)
                state["firing"] = _dict_of(alert)
                self._emit(alert)
            return
        state["peak"] = max(state["peak"], figures["value"])
        if not figures["calm"]:
            state.pop("calm", None)
            return
        calm = state.setdefault("calm", at)
        if at - calm >= rule.resolve_after_s * 1000:
            alert = self._alert(
                rule, segment, "resolved", firing["starts_at_ms"], at, figures, state
            )
            state.clear()
            self._emit(alert)

    def _emit(self, alert: Alert) -> None:
        if self.sink is not None:
            self.sink(alert)
        else:
            self._out.append(alert)

    # -- the message ---------------------------------------------------------------------

    def _alert(
        self,
        rule: AlertRule,
        segment: str,
        status: str,
        starts_at: int,
        ends_at: int | None,
        figures: dict,
        state: dict,
    ) -> Alert:
        labels = {"alertname": rule.alertname, "detector": rule.detector, "severity": rule.severity}
        if segment:
            labels["segment"] = segment
        labels.update(self.settings.labels)
        labels.update(rule.labels)
        value = {k: v for k, v in figures.items() if k not in ("value", "above", "calm")}
        value.update(
            condition=rule.condition,
            threshold=rule.threshold,
            resolve_below=rule.resolve_below,
            window=_duration(rule.window_s),
            window_s=rule.window_s,
            peak=round(state["peak"], 4),
        )
        annotations = {
            "summary": _summary(rule, segment, status, starts_at, ends_at, figures, state),
            "runbook_url": self.settings.runbook_url(rule),
        }
        return Alert(status, labels, annotations, starts_at, value, ends_at)

    # -- state ---------------------------------------------------------------------------

    def snapshot(self) -> dict:
        """Everything the engine holds, as orjson-serialisable plain data."""
        return {
            "version": SNAPSHOT_VERSION,
            "evaluated_to": self.evaluated_to,
            "clock": self.clock,
            "windows": self.windows.snapshot(),
            "baselines": {name: b.snapshot() for name, b in self.baselines.items()},
            "states": self.states,
        }

    def restore(self, snapshot: dict) -> None:
        """Take over a snapshot; rules removed since are dropped, new rules start empty."""
        if snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"alert snapshot version {snapshot.get('version')!r} not supported")
        self.evaluated_to = snapshot["evaluated_to"]
        self.clock = snapshot["clock"]
        self.windows.restore(snapshot["windows"])
        for name, baseline in self.baselines.items():
            if name in snapshot["baselines"]:
                baseline.restore(snapshot["baselines"][name])
        for name in self.states:
            self.states[name] = snapshot["states"].get(name, {})


def _dict_of(alert: Alert) -> dict:
    return {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "starts_at_ms": alert.starts_at_ms,
        "value": alert.value,
    }


def _alert_of(stored: dict) -> Alert:
    return Alert(
        "firing", stored["labels"], stored["annotations"], stored["starts_at_ms"], stored["value"]
    )


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def _clock(ms: int) -> str:
    text = format_time(ms)
    return f"{text[:10]} {text[11:16]} UTC"


def _measured(rule: AlertRule, figures: dict) -> str:
    count = figures["count"]
    window = _duration(rule.window_s)
    if rule.condition == "share":
        return (
            f"{figures['share']:.0%} ({count} of {figures['samples']}) in the last {window} "
            f"(alert at {rule.threshold:.0%})"
        )
    if rule.condition == "rate":
        return (
            f"{count} in the last {window}, {figures['rate']:.2f}/min "
            f"(alert at {rule.threshold:g}/min)"
        )
    return (
        f"{count} in the last {window}, {figures['ratio']:.1f}x the usual "
        f"{figures['baseline']:.2f}/min (alert at {rule.threshold:g}x)"
    )


def _summary(
    rule: AlertRule,
    segment: str,
    status: str,
    starts_at: int,
    ends_at: int | None,
    figures: dict,
    state: dict,
) -> str:
    what = rule.what or f"{rule.detector} findings"
    where = f" in {rule.segment_name} {segment}" if segment else ""
    if status == "firing":
        return f"{what}{where}: {_measured(rule, figures)}, since {_clock(starts_at)}."
    assert ends_at is not None, "a resolved alert has its end"
    if rule.condition == "share":
        level = f"{rule.resolve_below:.0%}"
    elif rule.condition == "rate":
        level = f"{rule.resolve_below:g}/min"
    else:
        level = f"{rule.resolve_below:g}x the usual rate"
    return (
        f"Resolved: {what.lower()}{where} back under {level} since {_clock(state['calm'])} "
        f"(began {_clock(starts_at)}, ended {_clock(ends_at)}); now {_measured(rule, figures)}."
    )
