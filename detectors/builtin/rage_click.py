"""`rage_click`: a burst of rapid clicks on one spot, marked critical when the element is dead."""

from __future__ import annotations

import math

from friction_detector.detectors.api import Context, Detector, Journey, Param, ParamValue
from friction_detector.detectors.builtin.checkout_journey import (
    ORDER_PLACED,
    WINDOW_PARAM,
    CheckoutJourney,
    checkout_journey_params,
    order_key,
)
from friction_detector.detectors.builtin.clicks import (
    QUIET_WIDGETS,
    dead_after_param,
    ignore_matcher,
    ignore_param,
    is_dead,
    missing_response_param,
    recent_clicks,
    target_segment,
)
from friction_detector.detectors.events import Event
from friction_detector.detectors.schema import types

MAX_REMEMBERED_CLICKS = 64


class RageClick(CheckoutJourney, Detector):
    """N or more clicks within the window that land within the radius or on one target.

    Defaults are PostHog's rageclick (3 clicks, 1000 ms, 30 px; `RageclickConfig` in
    posthog-js). As Sentry does for "rage dead clicks" (3+ clicks on an element that showed no
    DOM change within its dead-click timeout), a burst where no click got a response within
    `dead_after_ms` is kind `rage_dead_click`, severity `critical`, so alert rules can group by
    selector. One finding per burst per target; state is capped at 64 recent clicks per session.
    """

    name = "rage_click"
    description = "N or more clicks within 1 s on one spot or target in a session; one per burst."
    consumes = {**types("click"), **ORDER_PLACED}  # an order only ends a checkout journey
    journey = Journey(kinds=("rage_click", "rage_dead_click"), window_param=WINDOW_PARAM)
    key_space = "session"  # routed with the session's other click detector, one item
    params = {
        "min_clicks": Param(3, "this many clicks within the window is a burst", 2, 50),
        "window_ms": Param(1000, "the time between the first and last click", 100, 60_000),
        "radius_px": Param(30, "clicks closer than this count as one spot", 0, 2000),
        "dead_after_ms": dead_after_param(),
        "missing_response_is_dead": missing_response_param(),
        "ignore_targets": ignore_param(QUIET_WIDGETS),
        **checkout_journey_params(),
    }
    min_clicks: int
    window_ms: int
    radius_px: int
    dead_after_ms: int
    missing_response_is_dead: bool
    ignore_targets: list[str]

    def __init__(self, **overrides: ParamValue) -> None:
        super().__init__(**overrides)
        self._ignored = ignore_matcher(self.ignore_targets)

    def state_ttl_ms(self) -> int:
        return self.window_ms * 2

    def key(self, event: Event) -> str | None:
        if event.type == "order_placed":
            return order_key(event)
        if self._ignored(event.attrs["target"]):
            return None
        return event.session_id or event.user_id

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        if event.type != "click":
            return
        attrs = event.attrs
        now = event.time
        target = attrs["target"]
        clicks = recent_clicks(state.get("clicks"), now, self.window_ms)
        dead = is_dead(attrs.get("response_ms"), self.dead_after_ms, self.missing_response_is_dead)
        click = [now, attrs.get("x"), attrs.get("y"), target, dead]
        clicks.append(click)
        remembered = len(clicks) <= MAX_REMEMBERED_CLICKS
        state["clicks"] = clicks if remembered else clicks[-MAX_REMEMBERED_CLICKS:]
        # Targets whose burst was reported, until its clicks stop; most sessions have none.
        quiet = state.get("quiet")
        if quiet:
            quiet = state["quiet"] = {t: until for t, until in quiet.items() if until >= now}
        if len(clicks) < self.min_clicks:
            return  # too few recent clicks for any burst (most clicks stop here)
        same_spot = self._same_spot  # its first test inline: most bursts share a target
        burst = [c for c in clicks if c[3] == target or same_spot(c, click)]
        if len(burst) < self.min_clicks:
            return
        if quiet is None:
            quiet = state["quiet"] = {}
        if target in quiet:
            quiet[target] = now + self.window_ms  # the same burst goes on
            return
        quiet[target] = now + self.window_ms
        all_dead = all(c[4] for c in burst)
        kind, severity = ("rage_dead_click", "critical") if all_dead else ("rage_click", "warning")
        span_ms = burst[-1][0] - burst[0][0]
        ctx.emit(
            kind,
            severity=severity,
            subject={"session_id": event.session_id, "target": target},
            summary=(
                f"{len(burst)} clicks within {span_ms} ms on {target}"
                + (" with no response: the element looks broken." if all_dead else ".")
            ),
            evidence={
                "clicks": len(burst),
                "span_ms": span_ms,
                "min_clicks": self.min_clicks,
                "window_ms": self.window_ms,
                "radius_px": self.radius_px,
                "dead": all_dead,
                "dead_after_ms": self.dead_after_ms,
                "page": attrs.get("page"),
            },
            user_id=event.user_id,
            session_id=event.session_id,
            segment=target_segment(target),
        )

    def _same_spot(self, earlier: list, click: list) -> bool:
        if earlier[3] == click[3]:
            return True
        if None in (earlier[1], earlier[2], click[1], click[2]):
            return False
        return math.dist((earlier[1], earlier[2]), (click[1], click[2])) <= self.radius_px
