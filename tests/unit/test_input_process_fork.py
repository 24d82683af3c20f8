"""Stage 1's process is forked once the worker's app is built (streams/worker/run.py): building
it must start no thread, which a fork would copy half-way (and Python 3.12 warns of)."""

from __future__ import annotations

import threading

from friction_detector.detectors.config import build_config
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.app import FrictionApp


def test_building_the_app_with_a_webhook_starts_no_thread(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FRICTION_WEBHOOK_SECRET", "s3cret")
    config = build_config({"webhook": {"url": "http://127.0.0.1:9/in"}})
    settings = WorkerSettings(app_id="app-fork", data_dir=str(tmp_path))
    before = set(threading.enumerate())

    friction = FrictionApp(settings, config, FrictionMetrics(set()))

    assert friction.webhook is not None
    assert friction.input_process is not None  # the default: stage 1 in a process of its own
    assert set(threading.enumerate()) - before == set()
    friction.webhook.close()


def test_inline_stage_one_has_no_process_to_start(tmp_path) -> None:
    settings = WorkerSettings(app_id="app-inline", data_dir=str(tmp_path), input_stage="inline")
    friction = FrictionApp(settings, build_config({}), FrictionMetrics(set()))
    assert friction.input_process is None
