"""Which findings, outcomes and alerts reach the endpoint, and the shape each record has."""

from __future__ import annotations

import orjson
from friction_detector.detectors.alerts import Alert
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.outcomes import Outcome
from friction_detector.streams.webhook.records import (
    RecordFilter,
    alert_record,
    delivery_body,
    finding_record,
    outcome_record,
)
from friction_detector.streams.webhook.settings import WebhookSettings


def finding(detector="late_reset_email", kind="late", severity="warning") -> Finding:
    return Finding(
        detector=detector,
        kind=kind,
        severity=severity,
        time_ms=1_700_000_000_000,
        subject={"request_id": "r-7"},
        summary="The reset email took 95 s.",
        evidence={"delay_s": 95},
        user_id="u-1",
    )


def alert(detector="late_reset_email", severity="critical", status="firing") -> Alert:
    return Alert(
        status=status,
        labels={"alertname": "FrictionResetEmailsDelayed", "detector": detector,
                "severity": severity},
        annotations={"summary": "Reset emails are late."},
        starts_at_ms=1_700_000_000_000,
        value={"rate_per_min": 12.0},
    )  # fmt: skip


def outcome(detector="slow_checkout", kind="slow_load") -> Outcome:
    return Outcome("f-1", detector, kind, "abandoned", 1_700_000_000_000, "/checkout/pay")


def passes(**settings) -> RecordFilter:
    return RecordFilter(WebhookSettings(url="http://h/", **settings))


def test_default_filter_takes_every_finding_and_alert():
    keep = passes()
    assert keep.finding(finding(severity="info"))
    assert keep.alert(alert(severity="info"))


def test_detector_filter_applies_to_findings_and_alerts():
    keep = passes(detectors=("slow_checkout",))
    assert not keep.finding(finding())
    assert not keep.alert(alert())
    assert keep.finding(finding(detector="slow_checkout", kind="slow_load"))
    assert keep.alert(alert(detector="slow_checkout"))


def test_kind_filter_applies_to_findings_only():
    keep = passes(kinds=("missing",))
    assert not keep.finding(finding(kind="late"))
    assert keep.finding(finding(kind="missing"))
    assert keep.alert(alert())  # an alert has no kind


def test_min_severity_keeps_that_severity_and_above():
    keep = passes(min_severity="warning")
    assert not keep.finding(finding(severity="info"))
    assert keep.finding(finding(severity="warning"))
    assert keep.finding(finding(severity="critical"))
    assert not keep.alert(alert(severity="info"))
    assert keep.alert(alert(severity="critical"))


def test_record_types_leave_out_the_other_type():
    only_alerts = passes(record_types=("alert",))
    assert not only_alerts.finding(finding(severity="critical"))
    assert only_alerts.alert(alert())


def test_record_names_its_type_and_carries_the_contract_object_under_it():
    record = finding_record(finding()).to_dict()
    assert record == {"record_type": "finding", "finding": finding().to_dict()}
    assert alert_record(alert()).to_dict()["alert"]["alert_id"] == alert().alert_id


def test_body_carries_version_delivery_id_origin_and_records_in_order():
    records = [finding_record(finding()), alert_record(alert())]
    doc = orjson.loads(delivery_body(records, "replay", "d-1"))
    assert doc["version"] == 1
    assert doc["delivery_id"] == "d-1"
    assert doc["origin"] == "replay"
    assert [r["record_type"] for r in doc["records"]] == ["finding", "alert"]


def test_outcomes_are_sent_only_when_record_types_lists_them():
    assert not passes().outcome(outcome())  # the default: findings and alerts
    assert passes(record_types=("outcome",)).outcome(outcome())
    assert not passes(record_types=("outcome",)).finding(finding())


def test_outcomes_are_filtered_by_detector_and_kind_not_by_severity():
    keep = passes(
        record_types=("finding", "outcome"),
        detectors=("slow_checkout",),
        kinds=("slow_load",),
        min_severity="critical",
    )
    assert keep.outcome(outcome())
    assert not keep.outcome(outcome(kind="other"))
    assert not keep.outcome(outcome(detector="rage_click", kind="slow_load"))
    assert not keep.finding(finding(detector="slow_checkout", kind="slow_load"))  # a warning


def test_an_outcome_record_carries_the_outcome_as_on_the_findings_topic():
    record = outcome_record(outcome()).to_dict()
    assert record == {"record_type": "outcome", "outcome": orjson.loads(outcome().to_json())}
