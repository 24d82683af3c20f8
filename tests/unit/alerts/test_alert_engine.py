"""The alert engine driven directly: findings and measurements at explicit event times."""

from __future__ import annotations

import random

import orjson
from friction_detector.detectors.alerts import AlertEngine, AlertRule, AlertSettings
from friction_detector.detectors.findings import Finding

MIN = 60_000
T0 = 1_795_000_000_000 - 1_795_000_000_000 % (60 * MIN)  # an hour boundary


def share_rule(**overrides) -> AlertRule:
    values = dict(
        alertname="EmailsLate",
        detector="late_reset_email",
        condition="share",
        kinds=("late", "missing"),
        measurement="reset_email_delay",
        sample_kinds=("missing",),
        threshold=0.2,
        resolve_below=0.1,
        window_s=600,
        for_s=120,
        resolve_after_s=300,
        min_count=3,
        min_samples=10,
        what="Reset emails late",
        segment_name="template",
    )
    values.update(overrides)
    return AlertRule(**values)


def rate_rule(**overrides) -> AlertRule:
    values = dict(
        alertname="FormsResubmitted",
        detector="repeated_form_submission",
        condition="rate",
        threshold=1.0,
        resolve_below=0.5,
        window_s=600,
        for_s=0,
        resolve_after_s=0,
        min_count=1,
    )
    values.update(overrides)
    return AlertRule(**values)


def engine_of(*rules: AlertRule) -> AlertEngine:
    return AlertEngine(AlertSettings(rules=rules))


def finding(detector: str, kind: str, segment: str, time_ms: int, n: int = 0) -> Finding:
    return Finding(
        detector=detector,
        kind=kind,
        severity="warning",
        time_ms=time_ms,
        subject={"n": n, "t": time_ms},
        summary="",
        evidence={},
        segment=segment,
    )


def emails(engine: AlertEngine, minute: int, delivered: int, late: int, template="tpl") -> None:
    """One minute of traffic: `delivered` measured emails, `late` of them late."""
    start = T0 + minute * MIN
    for i in range(delivered):
        at = start + i * (MIN // max(delivered, 1))
        engine.on_measurement("late_reset_email", "reset_email_delay", 5.0, template, at)
        if i < late:
            engine.on_finding(finding("late_reset_email", "late", template, at, i))


def run(engine: AlertEngine, minutes: range, per_minute) -> list:
    for minute in minutes:
        per_minute(minute)
        engine.advance(T0 + (minute + 1) * MIN)
    return engine.take_alerts()


def test_share_rule_fires_after_for_s_and_not_before():
    engine = engine_of(share_rule(for_s=120))

    def traffic(minute: int) -> None:
        emails(engine, minute, 10, 0 if minute < 10 else 5)

    # a half of emails late from minute 10: the 10-minute share reaches 20% at 10:14
    assert run(engine, range(0, 15), traffic) == []
    (firing,) = run(engine, range(15, 16), traffic)
    assert firing.status == "firing"
    assert firing.starts_at_ms == T0 + 14 * MIN
    assert firing.value["share"] >= 0.2


def test_share_rule_needs_minimum_samples():
    engine = engine_of(share_rule(min_samples=10))
    # every email late, but only 5 per 10 minutes
    alerts = run(engine, range(0, 60), lambda m: emails(engine, m, 1 if m % 2 else 0, 1))
    assert alerts == []


def test_rate_rule_needs_minimum_count():
    engine = engine_of(rate_rule(threshold=0.1, resolve_below=0.05, min_count=5))
    alerts = run(
        engine,
        range(0, 30),
        lambda m: (
            m == 3
            and [
                engine.on_finding(finding("repeated_form_submission", "x", "f", T0 + m * MIN, i))
                for i in range(4)
            ]
        ),
    )
    assert alerts == []


def test_steady_level_above_nothing_below_threshold_does_not_fire():
    engine = engine_of(share_rule())
    alerts = run(engine, range(0, 180), lambda m: emails(engine, m, 10, 1))  # a steady 10%
    assert alerts == []


def test_resolves_when_the_incident_ends_with_the_same_alert_id():
    engine = engine_of(share_rule(resolve_after_s=300))
    alerts = run(engine, range(0, 60), lambda m: emails(engine, m, 10, 6 if 10 <= m < 20 else 0))
    assert [a.status for a in alerts] == ["firing", "resolved"]
    firing, resolved = alerts
    assert firing.alert_id == resolved.alert_id
    assert resolved.starts_at_ms == firing.starts_at_ms
    assert resolved.ends_at_ms is not None and firing.ends_at_ms is None
    # the window empties of late emails at minute 30 at the latest; resolved 5 minutes on
    assert T0 + 25 * MIN <= resolved.ends_at_ms <= T0 + 36 * MIN


def test_noisy_series_hovering_around_the_threshold_does_not_flap():
    rng = random.Random(7)
    engine = engine_of(share_rule(for_s=60, resolve_after_s=300))
    # a late share that wanders between 14% and 26% around the 20% threshold for 6 hours
    alerts = run(engine, range(0, 360), lambda m: emails(engine, m, 50, rng.randint(7, 13)))
    assert len(alerts) <= 1
    assert all(a.status == "firing" for a in alerts)


def test_one_alert_per_affected_segment():
    engine = engine_of(share_rule())

    def traffic(minute: int) -> None:
        for template in ("a", "b", "c"):
            late = 5 if template != "c" and 10 <= minute < 20 else 0
            emails(engine, minute, 10, late, template)

    alerts = run(engine, range(0, 60), traffic)
    firing = sorted(a.labels["segment"] for a in alerts if a.status == "firing")
    resolved = sorted(a.labels["segment"] for a in alerts if a.status == "resolved")
    assert firing == ["a", "b"]
    assert resolved == ["a", "b"]
    assert len({a.alert_id for a in alerts}) == 2


def test_alert_wire_form_follows_the_contract():
    engine = engine_of(share_rule(labels={"team": "identity"}))
    alerts = run(engine, range(0, 20), lambda m: emails(engine, m, 10, 5))
    wire = orjson.loads(alerts[0].to_json())
    assert wire["status"] == "firing"
    assert wire["labels"] == {
        "alertname": "EmailsLate",
        "detector": "late_reset_email",
        "severity": "warning",
        "segment": "tpl",
        "team": "identity",
    }
    assert wire["annotations"]["runbook_url"].endswith("/docs/runbooks/friction-engine-alert.md")
    assert "template tpl" in wire["annotations"]["summary"]
    assert "since" in wire["annotations"]["summary"]
    assert wire["starts_at"].endswith("Z") and wire["ends_at"] is None
    for key in ("rate", "count", "threshold", "window", "samples", "share"):
        assert key in wire["value"]


def test_result_does_not_depend_on_how_the_watermark_moves():
    def drive(step_ms: int) -> list[bytes]:
        engine = engine_of(share_rule())
        for minute in range(60):
            emails(engine, minute, 10, 6 if 10 <= minute < 20 else 0)
        for wm in range(T0, T0 + 61 * MIN, step_ms):
            engine.advance(wm)
        return [a.to_json() for a in engine.take_alerts()]

    assert drive(MIN) == drive(7_000) == drive(13 * MIN)


def test_snapshot_round_trips_through_orjson_and_keeps_firing_alerts():
    engine = engine_of(share_rule())
    run(engine, range(0, 20), lambda m: emails(engine, m, 10, 5))
    restored = engine_of(share_rule())
    restored.restore(orjson.loads(orjson.dumps(engine.snapshot())))
    assert [a.alert_id for a in restored.firing()] == [a.alert_id for a in engine.firing()]
    assert len(restored.firing()) == 1
    later = run(restored, range(20, 50), lambda m: emails(restored, m, 10, 0))
    assert [a.status for a in later] == ["resolved"]
    assert later[0].alert_id == engine.firing()[0].alert_id


def test_alerts_go_to_the_sink_when_one_is_given():
    seen = []
    engine = AlertEngine(AlertSettings(rules=(share_rule(),)), sink=seen.append)
    run(engine, range(0, 20), lambda m: emails(engine, m, 10, 5))
    assert [a.status for a in seen] == ["firing"]
    assert engine.take_alerts() == []


def test_engine_wide_labels_land_on_every_alert_firing_and_resolved():
    settings = AlertSettings(
        rules=(share_rule(), share_rule(alertname="EmailsLateToo", labels={"team": "identity"})),
        labels={"environment": "prod", "job": "friction-worker"},
    )
    engine = AlertEngine(settings)
    alerts = run(engine, range(0, 60), lambda m: emails(engine, m, 10, 5 if m < 20 else 0))
    assert {(a.alertname, a.status) for a in alerts} == {
        ("EmailsLate", "firing"),
        ("EmailsLate", "resolved"),
        ("EmailsLateToo", "firing"),
        ("EmailsLateToo", "resolved"),
    }
    for alert in alerts:
        assert alert.labels["environment"] == "prod"
        assert alert.labels["job"] == "friction-worker"
    assert {a.labels.get("team") for a in alerts} == {None, "identity"}
