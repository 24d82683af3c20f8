"""The plugin API: what a detector declares and the two reactions the engine calls."""

from __future__ import annotations

import re
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from friction_detector.detectors.events import Event
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.schema import EventSchema

ParamValue = int | float | str | bool | list[str]


@dataclass(frozen=True)
class Param:
    """A configurable parameter: its default, what it means, and the range a value must be in."""

    default: ParamValue
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()  # the values a str parameter may take; empty: any

    def check(self, name: str, value: Any) -> str | None:
        """Why `value` is not acceptable for this parameter, or None."""
        expected = type(self.default)
        if expected is float and type(value) is int:
            value = float(value)
        if type(value) is not expected:
            return f"{name} must be {expected.__name__}, got {type(value).__name__} {value!r}"
        if isinstance(value, list) and not all(type(item) is str for item in value):
            return f"{name} must be a list of strings"
        if self.choices and value not in self.choices:
            return f"{name} must be one of {', '.join(self.choices)}, got {value!r}"
        if not isinstance(value, int | float):
            return None  # a range bounds numbers only
        if self.minimum is not None and value < self.minimum:
            return f"{name} must be >= {self.minimum:g}, got {value!r}"
        if self.maximum is not None and value > self.maximum:
            return f"{name} must be <= {self.maximum:g}, got {value!r}"
        return None

    def annotation(self) -> object:
        """The type a detector annotates this parameter's attribute with: `threshold_ms: int`."""
        return list[str] if isinstance(self.default, list) else type(self.default)


_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


@dataclass(frozen=True)
class Measurement:
    """A value a detector records with `ctx.observe`, exported as a Prometheus histogram.

    `metric` is the histogram's name (in seconds: `friction_<what>_seconds`), `label` the name
    of the label that carries the observation's segment, `buckets` its upper bounds in seconds.
    """

    metric: str
    help: str
    buckets: tuple[float, ...]
    label: str = "segment"

    def __post_init__(self) -> None:
        for what, name in (("metric", self.metric), ("label", self.label)):
            if not _METRIC_NAME.fullmatch(name):
                raise ValueError(f"Measurement {what} {name!r} is not a Prometheus name")
        if not self.buckets or list(self.buckets) != sorted(set(self.buckets)):
            raise ValueError(f"{self.metric}: buckets must be increasing, got {self.buckets}")


@dataclass(frozen=True)
class Journey:
    """The customer journey a detector's findings interrupt, so each finding gets an outcome.

    A finding of one of `kinds` is `completed` when an event for which the detector's
    `completes_journey` is true reaches the same key within the window after the finding's
    time, and `abandoned` at the end of the window otherwise. The window is a parameter
    (`window_param`, in seconds) so a configuration file can override it like any other; the
    completing event types must be in `consumes`, so they reach the finding's key. A journey
    that `starts_journey` opens and no such finding interrupts is decided by the same rule and
    counted (the base rate); the key holds one open journey at a time.
    """

    kinds: tuple[str, ...]
    window_param: str


class Context(Protocol):
    """What a reaction may do: report a finding, set or cancel a deadline, record a measurement."""

    now: int

    def emit(
        self,
        kind: str,
        *,
        severity: str,
        subject: dict,
        summary: str,
        evidence: dict,
        user_id: str | None = None,
        session_id: str | None = None,
        segment: str = "",
        time_ms: int | None = None,
    ) -> None: ...

    def schedule(self, tag: str, at_ms: int) -> None: ...

    def cancel(self, tag: str) -> None: ...

    def observe(self, measurement: str, seconds: float, segment: str = "") -> None: ...


class Detector(ABC):
    """Base class of every detector, built-in or plugin.

    A subclass declares `name`, `description`, `consumes` (event type -> attribute rules) and
    `params`, annotates each parameter as an attribute of its type (`threshold_ms: int`),
    declares in `measurements` every name it passes to `ctx.observe`, and implements
    `state_ttl_ms`, `key`, `on_event` and, if it sets deadlines, `on_deadline`. A detector
    whose findings interrupt a journey declares it in `journey` and implements
    `completes_journey`; the engine then records each such finding's outcome, and with
    `starts_journey` counts the journeys no finding interrupted (the base rate).
    State is a plain dict per key that must serialise with orjson; the engine stores it,
    delivers events in event-time order, and drops the key once it is idle. Detectors whose
    keys name the same thing (a session) may say so in `key_space`: the worker then sends an
    event they take with the same key to all of them as one routed item.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    consumes: ClassVar[dict[str, EventSchema]]
    params: ClassVar[dict[str, Param]] = {}
    measurements: ClassVar[dict[str, Measurement]] = {}
    journey: ClassVar[Journey | None] = None
    # What the detector's keys name, shared with other detectors ("session"): the worker routes
    # an event to every detector of one key space that takes it with the same key as one item,
    # to the partition of `<key_space>/<key>`, where their records for that key live. Empty:
    # the detector's keys are its own, routed to the partition of `<name>/<key>`.
    key_space: ClassVar[str] = ""

    def __init__(self, **overrides: ParamValue) -> None:
        unknown = set(overrides) - set(self.params)
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter(s) {', '.join(sorted(unknown))}")
        for pname, spec in self.params.items():
            value = overrides.get(pname, spec.default)
            problem = spec.check(pname, value)
            if problem:
                raise ValueError(f"{self.name}: {problem}")
            if type(spec.default) is float and isinstance(value, int):
                value = float(value)  # a whole number in TOML for a float parameter
            setattr(self, pname, value)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name, space = cls.__dict__.get("name"), cls.key_space
        if isinstance(name, str) and ("/" in name or ":" in name):
            raise TypeError(f"{cls.__qualname__}: a detector's name has no '/' or ':'")
        if not isinstance(space, str) or "/" in space or ":" in space:
            raise TypeError(f"{cls.__qualname__}: key_space must be text without '/' or ':'")
        for pname, spec in cls.params.items():
            problem = _annotation_problem(cls, pname, spec)
            if problem:
                raise TypeError(f"{cls.__qualname__}: parameter {pname!r} {problem}")
        journey = cls.__dict__.get("journey")
        if journey is not None:
            window = cls.params.get(journey.window_param)
            if window is None or type(window.default) is not int:
                raise TypeError(
                    f"{cls.__qualname__}: journey window {journey.window_param!r} must be an "
                    "int parameter (seconds)"
                )
            kinds = journey.kinds
            if isinstance(kinds, str) or not all(isinstance(kind, str) for kind in kinds):
                raise TypeError(
                    f"{cls.__qualname__}: journey kinds must be a tuple of finding kinds, "
                    f"got {kinds!r}"
                )
            if cls.completes_journey is Detector.completes_journey:
                # Without it every outcome would be decided `abandoned`, silently.
                raise TypeError(
                    f"{cls.__qualname__}: a detector that declares a journey implements "
                    "completes_journey (which events complete it)"
                )

    @abstractmethod
    def state_ttl_ms(self) -> int:
        """How long a key's state outlives its last event; the longest window or deadline."""

    @abstractmethod
    def key(self, event: Event) -> str | None:
        """The key this event belongs to, or None when the detector has nothing to do with it."""

    @abstractmethod
    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        """Called for each event of the key, in event-time order."""

    def on_deadline(self, state: dict, tag: str, ctx: Context) -> None:  # noqa: B027 (optional)
        """Called when the watermark passes a deadline set with `ctx.schedule`."""

    def completes_journey(self, state: dict, event: Event) -> bool:
        """Whether `event` completes the journey of this key's open findings (see `Journey`);
        `state` is the key's, after `on_event` took this event."""
        return False

    def starts_journey(self, state: dict, event: Event) -> str | None:
        """The segment of the journey `event` starts on this key, or None when it starts none
        (called after `on_event`, while no journey of the key is open).

        A journey in which no finding of the detector interrupts it is decided by the same rule
        and window as a finding's outcome, and counted: the base rate, the share of customers
        who complete the journey without friction, that the findings' outcomes compare with.
        Start where the detector could have found friction and did not (a checkout page load,
        a chat answered in time), so both are measured from the same point of the journey.
        """
        return None

    def journey_segment(self, finding: Finding) -> str:
        """The segment of the journey `finding` interrupted, for its outcome: the one
        `starts_journey` gives a journey without friction, so the two sides of the friction
        cost compare per segment. The finding's own segment unless they differ."""
        return finding.segment

    def interrupts_journey(self, finding: Finding) -> bool:
        """Whether a finding of one of the journey's kinds interrupts it (a click finding: only
        on a checkout page); only those get an outcome."""
        return True

    def journey_window_ms(self) -> int:
        """How long after a finding its journey may still complete."""
        if self.journey is None:
            return 0
        return int(getattr(self, self.journey.window_param)) * 1000


# The event type a finding takes when a detector over findings reads it (`FindingDetector`).
FINDING_EVENT_TYPE = "friction.finding"


class FindingDetector(Detector):
    """A detector over findings rather than events: it reads every other detector's findings
    (each as an event of type `FINDING_EVENT_TYPE`, detectors/finding_events.py), keyed as it
    chooses, and emits findings of its own.

    It runs in an engine of its own behind the event detectors, which follows the time before
    which all their findings are out (`Engine.settled`), so it sees findings in event-time
    order whatever order they were emitted in. Input events never reach it, and findings of
    detectors over findings are not fed back to any of them.
    """

    consumes: ClassVar[dict[str, EventSchema]] = {FINDING_EVENT_TYPE: {}}


def _annotation_problem(cls: type, pname: str, spec: Param) -> str | None:
    """Why the class's declared attribute for a parameter does not match its Param, or None.

    The Param stays the single source of the default, help and range; the annotation only lets
    readers and the type checker follow the value, so the two must name the same type.
    """
    expected = spec.annotation()
    spelled = "list[str]" if isinstance(spec.default, list) else type(spec.default).__name__
    for klass in cls.__mro__:
        annotations = klass.__dict__.get("__annotations__", {})
        if pname not in annotations:
            continue
        declared = annotations[pname]
        if isinstance(declared, str):  # postponed evaluation (`from __future__ import annotations`)
            module = sys.modules.get(klass.__module__)
            try:
                declared = eval(declared, dict(vars(module)) if module else {})
            except Exception:
                return f"is annotated {annotations[pname]!r}, which does not resolve"
        if declared != expected:
            return f"is annotated {annotations[pname]!r} but its Param default is {spelled}"
        return None
    return f"needs an annotation beside its Param: `{pname}: {spelled}`"
