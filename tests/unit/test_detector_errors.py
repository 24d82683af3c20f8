"""A detector that raises does not stop the stream, and loses no event silently."""

from __future__ import annotations

import io

import orjson
import pytest
from friction_detector.detectors import Context, Detector, Event
from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
from friction_detector.detectors.config import Config
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.observer import EngineObserver
from friction_detector.detectors.schema import CONTRACT_TYPES
from friction_detector.detectors.testing import DetectorHarness, at, make_event
from friction_detector.streams.cli.replay import replay


class Broken(Detector):
    """Raises on every page load, as a plugin with a bug would."""

    name = "broken"
    description = "raises"
    consumes = {"page_load": CONTRACT_TYPES["page_load"]}

    def state_ttl_ms(self) -> int:
        return 1000

    def key(self, event: Event) -> str | None:
        return event.session_id

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        raise KeyError("missing_attr")


class SetInEvidence(Broken):
    """Emits a finding whose evidence holds a set, which JSON cannot carry."""

    name = "set_in_evidence"

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        ctx.emit(
            "odd",
            severity="info",
            subject={"session_id": event.session_id},
            summary="odd",
            evidence={"pages": {event.attrs["page"]}},
        )


def slow_load(at: str) -> dict:
    return make_event("page_load", at, page="/checkout/pay", duration_ms=9000)


def slow_load_then_a_tick() -> io.BytesIO:
    """A replay input: a slow checkout load, then an event an hour later that moves time on."""
    return io.BytesIO(
        orjson.dumps(slow_load("2026-11-22T10:00:00Z"))
        + b"\n"
        + orjson.dumps(make_event("tick", "2026-11-22T11:00:00Z"))
        + b"\n"
    )


class Errors(EngineObserver):
    def __init__(self) -> None:
        self.raised: list[tuple[str, str | None, str]] = []

    def on_detector_error(self, detector: str, event: Event | None, error: Exception) -> None:
        self.raised.append((detector, event and event.event_id, type(error).__name__))


def test_other_detectors_still_find_when_one_raises():
    errors = Errors()
    engine = Engine([Broken(), SlowCheckout()], allowed_lateness_ms=0, observer=errors)
    load = slow_load("2026-11-22T10:00:00Z")
    engine.process(
        Event(load["event_id"], "page_load", at(load["time"]), "u-1", "s-1", load["attrs"])
    )
    found = engine.advance(at("2026-11-22T10:01:00Z"))
    assert [finding.kind for finding in found] == ["slow_load"]
    assert errors.raised == [("broken", load["event_id"], "KeyError")]


def test_the_harness_fails_the_authors_test_on_a_detector_error_naming_the_detector():
    harness = DetectorHarness(Broken(), SlowCheckout())
    load = slow_load("2026-11-22T10:00:00Z")
    harness.feed(load)
    with pytest.raises(KeyError) as raised:
        harness.advance("2026-11-22T10:00:01Z")
    assert raised.value.__notes__ == [
        f"raised by detector 'broken' on event {load['event_id']!r} (the harness re-raises it)"
    ]
    assert harness.advance("2026-11-22T10:01:00Z") == []  # reported once
    assert harness.kinds() == ["slow_load"]


def test_replay_puts_the_event_a_detector_raised_on_in_the_dead_letters():
    source = slow_load_then_a_tick()
    findings, dead = io.BytesIO(), io.BytesIO()
    summary = replay(source, Config(detectors=[Broken(), SlowCheckout()]), findings, dead, "f")
    (letter,) = [orjson.loads(line) for line in dead.getvalue().splitlines()]
    assert letter["reason"] == "detector_error"
    assert "broken raised KeyError" in letter["detail"]
    assert orjson.loads(letter["raw"])["attrs"]["duration_ms"] == 9000
    assert summary.detector_errors == {"broken": 1}
    assert [orjson.loads(f)["detector"] for f in findings.getvalue().splitlines()] == [
        "slow_checkout"
    ]


def test_a_finding_json_cannot_carry_is_its_detectors_error_and_replay_goes_on():
    source = slow_load_then_a_tick()
    findings, dead = io.BytesIO(), io.BytesIO()
    config = Config(detectors=[SetInEvidence(), SlowCheckout()])
    summary = replay(source, config, findings, dead, "f")
    (letter,) = [orjson.loads(line) for line in dead.getvalue().splitlines()]
    assert letter["reason"] == "detector_error"
    assert (
        "set_in_evidence raised TypeError: finding evidence cannot be written" in letter["detail"]
    )
    assert summary.detector_errors == {"set_in_evidence": 1}
    assert [orjson.loads(f)["kind"] for f in findings.getvalue().splitlines()] == ["slow_load"]
