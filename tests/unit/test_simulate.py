"""`friction simulate` makes valid contract events and injects every detector's moment."""

from __future__ import annotations

from friction_detector.detectors.config import build_config
from friction_detector.detectors.events import BadInput
from friction_detector.detectors.registry import installed_detectors
from friction_detector.streams.devkit.simulate import simulate, to_json


class FakeClock:
    """Simulated seconds, so a minute of traffic takes no real minute."""

    def __init__(self) -> None:
        self.now = 1_795_300_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run(incident_rate: float) -> tuple[list[dict], dict[str, int]]:
    clock = FakeClock()
    events: list[dict] = []
    traffic = simulate(
        events.append,
        rate=200,
        incident_rate=incident_rate,
        duration_s=120,
        seed=3,
        progress=None,
        clock=clock,
        sleep=clock.sleep,
    )
    return events, traffic.injected


def test_simulated_events_are_all_valid_contract_events():
    events, _ = run(incident_rate=0.3)
    decoder = build_config({}).decoder()
    bad = [d for d in map(decoder.decode, map(to_json, events)) if isinstance(d, BadInput)]
    assert events and bad == []


def test_every_built_in_detector_gets_incidents():
    _, injected = run(incident_rate=1.0)
    built_in = {
        n
        for n, cls in installed_detectors().items()
        if cls.__module__.startswith("friction_detector.detectors.")
    }
    assert built_in <= {name for name, count in injected.items() if count > 0}
