"""The hooks the compiled core calls: each observer's own, with no observer that only passes a
hook on or fans it out in between, and the same calls, in the same order, as engine.py makes
through those observers."""

from __future__ import annotations

import pytest
from friction_detector.detectors.compiled import replay_engine
from friction_detector.detectors.config import build_config
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.finding_events import FindingsOnly
from friction_detector.detectors.observer import HOOKS, EngineObserver, FanOut
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.app import FrictionApp
from test_compiled_engine import LATENESS_MS, CallLog, decoded_corpus, every_builtin_detector


class PassesAllOn(EngineObserver):
    """Passes every hook on to `log`, as the worker's partitions pass theirs to the metrics."""

    passes_on = frozenset(HOOKS)

    def __init__(self, log: CallLog) -> None:
        self.log = log

    def passed_to(self) -> EngineObserver:
        return self.log


class Findings(EngineObserver):
    """Hears findings only, into the shared `log` of calls."""

    def __init__(self, log: CallLog) -> None:
        self.log = log

    def on_finding(self, finding):
        self.log.calls.append(("second observer's finding", finding.finding_id))


def heard(make, events) -> CallLog:
    """What a fan-out of a passing-on observer and a second observer hears from an engine."""
    log = CallLog()
    observer = FanOut(PassesAllOn(log), Findings(log))
    engine = make(every_builtin_detector(), allowed_lateness_ms=LATENESS_MS, observer=observer)
    for event in events:
        engine.process(event)
    engine.finish()
    return log


def test_both_engines_make_the_same_calls_through_fan_out_and_passing_on() -> None:
    events = decoded_corpus()
    reference = heard(lambda *a, **k: Engine(*a, keep_events=True, **k), events)
    compiled = heard(replay_engine, events)
    assert compiled.calls == reference.calls
    assert compiled.sizes == reference.sizes
    kinds = {call[0] for call in reference.calls}
    assert {"finding", "second observer's finding", "measurement", "opened"} <= kinds


def test_a_hook_one_observer_of_a_fan_out_has_is_that_observers_own() -> None:
    log = CallLog()
    hooks = FanOut(PassesAllOn(log), Findings(log)).hooks()
    assert hooks["on_measurement"] == log.on_measurement  # past both the fan-out and the pass
    assert set(hooks) == set(HOOKS)
    hooks["on_finding"](type("F", (), {"finding_id": "f-1"})())
    assert log.calls == [("finding", "f-1"), ("second observer's finding", "f-1")]


def test_a_hook_passed_on_to_an_observer_that_ignores_it_is_not_called() -> None:
    hooks = FindingsOnly(Findings(CallLog())).hooks()
    assert set(hooks) == {"on_finding"}  # state sizes and errors: the receiver has none


def test_a_worker_partition_hands_the_core_its_metrics_own_hooks(tmp_path) -> None:
    """What a routed partition only passes on goes to the metrics straight; what it adds to
    (the state-size sum over partitions, errors to the dead letters) stays its own."""
    metrics = FrictionMetrics(set())
    settings = WorkerSettings(app_id="app-hooks", data_dir=str(tmp_path))
    owned = FrictionApp(settings, build_config({}), metrics).detection.get(0)
    hooks = owned.hooks()
    for name in owned.passes_on:
        assert hooks[name] == getattr(metrics, name), name
    assert hooks["on_state_size"] == owned.on_state_size
    assert hooks["on_detector_error"] == owned.on_detector_error
    assert "on_event" not in hooks  # counted by stage 1, not again here


def test_a_hook_passed_on_is_a_forwarder_engine_py_calls() -> None:
    """engine.py calls every hook on the observer: one it passes on reaches the receiver."""
    log = CallLog()
    PassesAllOn(log).on_watermark(5)
    assert log.calls == [("watermark", 5)]


def test_a_class_cannot_pass_on_a_hook_it_writes_or_one_that_is_no_hook() -> None:
    with pytest.raises(TypeError, match="writes it too"):

        class Both(EngineObserver):
            passes_on = frozenset({"on_finding"})

            def on_finding(self, finding):
                pass

    with pytest.raises(TypeError, match="no engine hook"):

        class Misspelt(EngineObserver):
            passes_on = frozenset({"on_findings"})
