"""Baseline rules: a segment is compared with its own usual rate."""

from __future__ import annotations

from friction_detector.detectors.alerts import AlertEngine, AlertRule, AlertSettings
from friction_detector.detectors.alerts.baseline import Baseline, slot_of
from friction_detector.detectors.findings import Finding

MIN = 60_000
T0 = 1_795_000_000_000 - 1_795_000_000_000 % (60 * MIN)


def rule(**overrides) -> AlertRule:
    values = dict(
        alertname="FormResubmitSpike",
        detector="repeated_form_submission",
        condition="baseline",
        kinds=("repeated_submit",),
        threshold=3.0,
        resolve_below=1.5,
        window_s=600,
        for_s=120,
        resolve_after_s=300,
        min_count=5,
        half_life_s=3600,
        warmup_s=3600,
        baseline_floor=0.2,
    )
    values.update(overrides)
    return AlertRule(**values)


def submits(engine: AlertEngine, minute: int, n: int, form: str = "signup") -> None:
    for i in range(n):
        at = T0 + minute * MIN + i * (MIN // n)
        engine.on_finding(
            Finding(
                "repeated_form_submission",
                "repeated_submit",
                "warning",
                at,
                {"i": i, "t": at},
                "",
                {},
                segment=form,
            )
        )


def run(engine: AlertEngine, minutes: range, per_minute) -> list:
    for minute in minutes:
        per_minute(minute)
        engine.advance(T0 + (minute + 1) * MIN)
    return engine.take_alerts()


def test_a_steady_high_level_does_not_page():
    engine = AlertEngine(AlertSettings(rules=(rule(),)))
    # 4 a minute all day: far above any fixed threshold, but the form's normal
    alerts = run(engine, range(0, 24 * 60), lambda m: submits(engine, m, 4))
    assert alerts == []


def test_a_jump_to_three_times_the_usual_rate_fires_then_resolves():
    engine = AlertEngine(AlertSettings(rules=(rule(),)))
    alerts = run(
        engine, range(0, 6 * 60), lambda m: submits(engine, m, 12 if 180 <= m < 210 else 2)
    )
    assert [a.status for a in alerts] == ["firing", "resolved"]
    firing = alerts[0]
    assert firing.value["baseline"] > 1.5
    assert firing.value["ratio"] >= 3
    assert T0 + 180 * MIN <= firing.starts_at_ms <= T0 + 190 * MIN


def test_the_incident_does_not_teach_the_baseline():
    engine = AlertEngine(AlertSettings(rules=(rule(),)))
    run(engine, range(0, 180), lambda m: submits(engine, m, 2))
    before = engine.baselines["FormResubmitSpike"].usual("signup", T0 + 180 * MIN)
    run(engine, range(180, 240), lambda m: submits(engine, m, 20))
    during = engine.baselines["FormResubmitSpike"].usual("signup", T0 + 240 * MIN)
    assert during < before * 1.5


def test_nothing_fires_during_warmup():
    engine = AlertEngine(AlertSettings(rules=(rule(warmup_s=3600),)))
    alerts = run(engine, range(0, 50), lambda m: submits(engine, m, 0 if m < 20 else 10))
    assert alerts == []


def test_a_new_segment_after_warmup_is_compared_with_zero():
    engine = AlertEngine(AlertSettings(rules=(rule(),)))

    def traffic(minute: int) -> None:
        submits(engine, minute, 2, "signup")
        if minute >= 120:
            submits(engine, minute, 3, "new_form")

    alerts = run(engine, range(0, 140), traffic)
    assert [(a.status, a.labels["segment"]) for a in alerts] == [("firing", "new_form")]


def test_hour_of_week_slots_start_on_monday():
    monday = 1_794_787_200_000  # 2026-11-16T00:00:00Z, a Monday
    assert slot_of(monday, "hour_of_week") == "0"
    assert slot_of(monday + 9 * 3_600_000, "hour_of_week") == "9"
    assert slot_of(monday - 1, "hour_of_week") == "167"
    assert slot_of(monday, "none") == "0"


def test_hour_of_week_keeps_one_average_per_hour():
    baseline = Baseline(60, 3600, 0, "hour_of_week")
    monday = 1_794_787_200_000
    baseline.learn("s", monday + 9 * 3_600_000, 10.0)
    assert baseline.usual("s", monday + 9 * 3_600_000 + 5 * MIN) > 0
    assert baseline.usual("s", monday + 10 * 3_600_000) == 0.0
