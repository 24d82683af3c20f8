"""Hooks through which the engine reports what it saw; the runtimes count or export them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from friction_detector.detectors.events import Event
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.outcomes import JourneyOutcome, Outcome

Hook = Callable[..., None]


class EngineObserver:
    """No-op base: replay's summary and the worker's Prometheus metrics override what they need.

    engine.py calls each hook on the observer. The compiled core calls the bound `hooks()`
    instead: only those a class overrides, and through an observer that only passes a hook on
    (`passes_on`) or fans it out (`FanOut`), straight to the observers that act on it, as most
    hooks come per event or per finding and each Python frame between costs.
    """

    # Hooks this observer's class only passes on, unchanged, to `passed_to()`'s same hook: the
    # class writes none of them, each is made a forwarder (`__init_subclass__`).
    passes_on: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Make each hook the class passes on a forwarder to `passed_to()`'s own, for engine.py,
        which calls every hook on the observer: `passes_on` is the one list of them."""
        super().__init_subclass__(**kwargs)
        for name in cls.passes_on:
            if name not in HOOKS:
                raise TypeError(f"{cls.__name__} passes on {name!r}, which is no engine hook")
            if name in vars(cls):
                raise TypeError(f"{cls.__name__} passes {name!r} on and writes it too")
            setattr(cls, name, _forwarder(name))

    def passed_to(self) -> EngineObserver:
        """The observer the `passes_on` hooks go to."""
        raise NotImplementedError(f"{type(self).__name__} passes no hook on")

    def hooks(self) -> dict[str, Hook]:
        """The hooks the engine should call, bound, by name: those this class overrides, a
        hook it only passes on as the receiving observer's own (absent if that one ignores
        it)."""
        received = self.passed_to().hooks() if self.passes_on else {}
        bound: dict[str, Hook] = {}
        for name in HOOKS:
            if getattr(type(self), name) is getattr(EngineObserver, name):
                continue
            if name not in self.passes_on:
                bound[name] = getattr(self, name)
            elif name in received:
                bound[name] = received[name]
        return bound

    def on_event(self, event: Event) -> None:
        """An accepted event, before routing."""

    def on_late(self, event: Event, watermark: int) -> None:
        """An event behind the watermark; it is still applied, in arrival order."""

    def on_duplicate(self, detector: str, event: Event) -> None:
        """A redelivered `event_id` that a detector had already seen for this key."""

    def on_finding(self, finding: Finding) -> None:
        """A finding, as it is emitted."""

    def on_outcome(self, outcome: Outcome) -> None:
        """A finding's outcome, as it is decided."""

    def on_journey_opened(self, detector: str, segment: str, interrupted: bool) -> None:
        """An outcome is now open: a finding's (`interrupted`, the finding's segment) or a
        journey's without friction; it is decided within the detector's journey window."""

    def on_journey(self, journey: JourneyOutcome) -> None:
        """A journey no finding interrupted, as it is decided: the base rate."""

    def on_measurement(
        self, detector: str, measurement: str, seconds: float, segment: str, time_ms: int
    ) -> None:
        """A value behind a detector's rule, such as a load time, made at event time `time_ms`."""

    def on_state_size(self, detector: str, keys: int) -> None:
        """How many keys a detector holds after a change in key count."""

    def on_watermark(self, watermark: int) -> None:
        """The watermark moved forward; time-driven consumers (the alert engine) advance here."""

    def on_detector_error(self, detector: str, event: Event | None, error: Exception) -> None:
        """A detector raised on `event` (None: at a deadline); the stream goes on without it."""


class FanOut(EngineObserver):
    """Several observers behind one, so a run can count, export metrics and alert at once."""

    def __init__(self, *observers: EngineObserver) -> None:
        self.observers = observers

    def hooks(self) -> dict[str, Hook]:
        """Each observer's own hooks: one observer's is called directly, several observers'
        in order by one call."""
        calls: dict[str, list[Hook]] = {}
        for observer in self.observers:
            for name, hook in observer.hooks().items():
                calls.setdefault(name, []).append(hook)
        return {
            name: hooks[0] if len(hooks) == 1 else _each(hooks) for name, hooks in calls.items()
        }

    def on_event(self, event: Event) -> None:
        for observer in self.observers:
            observer.on_event(event)

    def on_late(self, event: Event, watermark: int) -> None:
        for observer in self.observers:
            observer.on_late(event, watermark)

    def on_duplicate(self, detector: str, event: Event) -> None:
        for observer in self.observers:
            observer.on_duplicate(detector, event)

    def on_finding(self, finding: Finding) -> None:
        for observer in self.observers:
            observer.on_finding(finding)

    def on_outcome(self, outcome: Outcome) -> None:
        for observer in self.observers:
            observer.on_outcome(outcome)

    def on_journey_opened(self, detector: str, segment: str, interrupted: bool) -> None:
        for observer in self.observers:
            observer.on_journey_opened(detector, segment, interrupted)

    def on_journey(self, journey: JourneyOutcome) -> None:
        for observer in self.observers:
            observer.on_journey(journey)

    def on_measurement(
        self, detector: str, measurement: str, seconds: float, segment: str, time_ms: int
    ) -> None:
        for observer in self.observers:
            observer.on_measurement(detector, measurement, seconds, segment, time_ms)

    def on_state_size(self, detector: str, keys: int) -> None:
        for observer in self.observers:
            observer.on_state_size(detector, keys)

    def on_watermark(self, watermark: int) -> None:
        for observer in self.observers:
            observer.on_watermark(watermark)

    def on_detector_error(self, detector: str, event: Event | None, error: Exception) -> None:
        for observer in self.observers:
            observer.on_detector_error(detector, event, error)


def _forwarder(name: str) -> Hook:
    """The hook `name` of an observer that passes it on to `passed_to()`, unchanged."""

    def forward(self: EngineObserver, *args: Any) -> None:
        getattr(self.passed_to(), name)(*args)

    forward.__name__ = forward.__qualname__ = name
    return forward


def _each(hooks: list[Hook]) -> Hook:
    """One hook that calls each of `hooks` in order with the same arguments."""

    def call(*args: Any) -> None:
        for hook in hooks:
            hook(*args)

    return call


HOOKS = [name for name in vars(EngineObserver) if name.startswith("on_")]
"""The engine's hooks by name."""
