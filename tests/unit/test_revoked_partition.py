"""A routed partition that moves to another worker takes its state along: its engine, store and
its share of `friction_detector_state_keys` leave this worker."""

from __future__ import annotations

import asyncio

import orjson
from faust.types import TP
from friction_detector.detectors.alerts import AlertEngine, load_alert_settings
from friction_detector.detectors.config import build_config
from friction_detector.detectors.findings import Finding
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.app import FrictionApp

T0 = 1_795_305_600_000


def state_keys(metrics: FrictionMetrics, detector: str) -> float | None:
    return metrics.registry.get_sample_value("friction_detector_state_keys", {"detector": detector})


def test_a_revoked_partition_no_longer_counts_in_the_state_keys_gauge(tmp_path) -> None:
    settings = WorkerSettings(app_id="app-revoke", data_dir=str(tmp_path))
    metrics = FrictionMetrics(set())
    friction = FrictionApp(settings, build_config({}), metrics)
    owned = {p: friction.detection.get(p) for p in (0, 1)}
    for partition, keys in ((0, 5), (1, 2)):
        owned[partition].on_state_size("slow_checkout", keys)
    assert state_keys(metrics, "slow_checkout") == 7

    revoked = {TP(settings.routed_topic, 0)}
    asyncio.run(friction._on_revoked(friction.app, revoked))

    assert state_keys(metrics, "slow_checkout") == 2
    assert set(friction.detection.owned) == {1}
    assert set(friction.alerting.rollups) == {1}


class SentRollups:
    """Stands for the rollups topic: keeps what the worker sends to the alert agent."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    async def send(self, value: bytes, partition: int) -> None:
        self.sent.append(orjson.loads(value))


def test_a_revoked_partition_sends_the_counts_of_its_finished_work_before_it_leaves(
    tmp_path,
) -> None:
    """Its new owner counts only what it detects itself: counts not sent before the partition
    moves would be missing from the alert engine's rates."""
    settings = WorkerSettings(app_id="app-revoke-rollups", data_dir=str(tmp_path))
    friction = FrictionApp(settings, build_config({}), FrictionMetrics(set()))
    rollups = SentRollups()
    friction.rollups = rollups  # type: ignore[assignment]
    for partition in (0, 1):
        friction.detection.get(partition)
    finding = Finding(
        detector="repeated_form_submission",
        kind="resubmitted",
        severity="warning",
        time_ms=T0,
        subject={},
        summary="",
        evidence={},
    )
    revoked_rollup = friction.alerting.rollup_for(0)
    revoked_rollup.on_finding(finding)
    revoked_rollup.on_finding(finding)
    revoked_rollup.on_watermark(T0)

    asyncio.run(friction._on_revoked(friction.app, {TP(settings.rollups_topic, 0)}))
    assert rollups.sent == []  # only the alert agent moved: the timer sends as before

    asyncio.run(friction._on_revoked(friction.app, {TP(settings.routed_topic, 0)}))
    (sent,) = rollups.sent
    assert sent["partition"] == 0 and sent["watermark"] == T0
    assert [row[-1] for row in sent["counts"]] == [2]
    assert set(friction.alerting.rollups) == {1}


def test_a_worker_that_lost_the_alert_agent_no_longer_shows_or_resends_its_alerts(
    tmp_path,
) -> None:
    """The dashboards take the highest firing gauge over the workers, and Alertmanager takes
    the last message: a former owner's stale 1, or its re-send of an alert the new owner
    resolved, would keep the alert firing. A rebalance that keeps the agent here changes
    nothing, and restoring the incident after it does not count its alerts as fired again."""
    settings = WorkerSettings(
        app_id="app-handover", data_dir=str(tmp_path), alertmanager_url="http://127.0.0.1:9"
    )
    metrics = FrictionMetrics(set())
    rule = {"detector": "repeated_form_submission", "condition": "rate", "threshold": 1.0,
            "for_s": 0, "min_count": 1}  # fmt: skip
    alerts = {"default_rules": False, "rules": {"FormsResubmitted": rule}}
    config = build_config({"alerts": alerts})
    friction = FrictionApp(settings, config, metrics)
    incident = AlertEngine(load_alert_settings(alerts))  # the incident as its owner kept it
    for n in range(30):
        incident.on_finding(
            Finding(
                detector="repeated_form_submission",
                kind="resubmitted",
                severity="warning",
                time_ms=T0 + n * 1000,
                subject={"n": n},
                summary="",
                evidence={},
            )
        )
    for minute in range(1, 3):
        incident.advance(T0 + minute * 60_000)
    (fired,) = incident.take_alerts()
    labels = {"alertname": "FormsResubmitted", "detector": "repeated_form_submission"}

    def firing_gauge() -> float | None:
        return metrics.registry.get_sample_value(
            "friction_alerts_firing", {**labels, "segment": fired.labels.get("segment", "")}
        )

    friction.alerting.restore({"engine": incident.snapshot(), "watermarks": []})
    assert friction.alertmanager is not None
    friction.alertmanager.publish([fired])  # unreachable: kept for re-sending all the same
    assert firing_gauge() == 1
    fired_total = {**labels, "status": "firing"}
    assert not metrics.registry.get_sample_value("friction_alerts_total", fired_total)

    kept = {TP(settings.rollups_topic, 0), TP(settings.routed_topic, 0)}
    asyncio.run(friction._on_assigned(friction.app, kept))
    assert firing_gauge() == 1 and friction.alertmanager.firing_ids() == {fired.alert_id}

    asyncio.run(friction._on_assigned(friction.app, {TP(settings.routed_topic, 0)}))
    assert firing_gauge() == 0
    assert friction.alertmanager.firing_ids() == set()
    assert not friction.alerting.restored  # should it come back: from the stored snapshot
