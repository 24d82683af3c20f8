"""`dead_click`: a click that does nothing visible."""

from __future__ import annotations

from friction_detector.detectors.api import Context, Detector, Param, ParamValue
from friction_detector.detectors.builtin.clicks import (
    QUIET_WIDGETS,
    dead_after_param,
    ignore_matcher,
    ignore_param,
    inp_rating,
    is_dead,
    missing_response_param,
    target_segment,
)
from friction_detector.detectors.events import Event
from friction_detector.detectors.schema import types


class DeadClick(Detector):
    """A click whose `response_ms` is over the limit (absent: unknown, unless configured dead).

    The default limit is PostHog's dead-click autocapture (no DOM mutation within 2500 ms);
    Sentry waits 7 s for a DOM mutation or scroll, and OpenReplay flags dead clicks too, so
    the limit is a parameter. The evidence also rates the response on the Core Web Vitals INP
    scale (good <= 200 ms, poor > 500 ms). One finding per target per session per period.
    """

    name = "dead_click"
    description = (
        "A click with no response within the limit; one per target per session per period."
    )
    consumes = types("click")
    params = {
        "dead_after_ms": dead_after_param(),
        "missing_response_is_dead": missing_response_param(),
        "period_s": Param(1800, "at most one finding per target per session within this", 1),
        "ignore_targets": ignore_param(QUIET_WIDGETS),
    }
    dead_after_ms: int
    missing_response_is_dead: bool
    period_s: int
    ignore_targets: list[str]

    def __init__(self, **overrides: ParamValue) -> None:
        super().__init__(**overrides)
        self._ignored = ignore_matcher(self.ignore_targets)

    def state_ttl_ms(self) -> int:
        return self.period_s * 1000

    def key(self, event: Event) -> str | None:
        """Only a dead click has a key: a click that got its response in time changes nothing,
        and, routed, it would make a record that waits `period_s` to expire (most clicks)."""
        attrs = event.attrs
        if not is_dead(attrs.get("response_ms"), self.dead_after_ms, self.missing_response_is_dead):
            return None
        target = attrs["target"]
        session = event.session_id or event.user_id
        if session is None or self._ignored(target):
            return None
        return session + "|" + target

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        response_ms = event.attrs.get("response_ms")
        # `key` routed it as dead; asked again, as routed items of a worker whose limit was
        # changed meanwhile are read under the new one.
        if not is_dead(response_ms, self.dead_after_ms, self.missing_response_is_dead):
            return
        last = state.get("last_finding")
        if last is not None and event.time - last < self.period_s * 1000:
            return
        state["last_finding"] = event.time
        target = event.attrs["target"]
        seen = "no response" if response_ms is None else f"a response after {response_ms:.0f} ms"
        ctx.emit(
            "dead_click",
            severity="warning",
            subject={"session_id": event.session_id, "target": target},
            summary=f"A click on {target} got {seen} (limit {self.dead_after_ms} ms).",
            evidence={
                "response_ms": response_ms,
                "dead_after_ms": self.dead_after_ms,
                "inp_rating": inp_rating(response_ms),
                "page": event.attrs.get("page"),
            },
            user_id=event.user_id,
            session_id=event.session_id,
            segment=target_segment(target),
        )
