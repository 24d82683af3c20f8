"""A routed partition that moves to another worker takes its state along: its engine, store and
its share of `friction_detector_state_keys` leave this worker."""

from __future__ import annotations

import asyncio

from faust.types import TP
from friction_detector.detectors.config import build_config
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.app import FrictionApp


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
