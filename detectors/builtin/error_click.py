"""`error_click`: a click followed at once by a JavaScript error."""

from __future__ import annotations

from friction_detector.detectors.api import Context, Detector, Journey, Param, ParamValue
from friction_detector.detectors.builtin.checkout_journey import (
    ORDER_PLACED,
    WINDOW_PARAM,
    CheckoutJourney,
    checkout_journey_params,
    order_key,
)
from friction_detector.detectors.builtin.clicks import (
    ignore_matcher,
    ignore_param,
    recent_clicks,
    target_segment,
)
from friction_detector.detectors.events import Event
from friction_detector.detectors.schema import types

MAX_REMEMBERED_CLICKS = 32


class ErrorClick(CheckoutJourney, Detector):
    """A `js_error` in the same session within the window after a click; one finding per click.

    FullStory's "error clicks" frustration signal: a click immediately followed by a JavaScript
    error. The error is blamed on the latest click before it; a click and an error in the same
    millisecond count. State is capped at 32 recent clicks per session.
    """

    name = "error_click"
    description = "A js_error within 1 s after a click in the same session; one per click."
    consumes = {**types("click", "js_error"), **ORDER_PLACED}  # an order only ends a journey
    journey = Journey(kinds=("error_click",), window_param=WINDOW_PARAM)
    key_space = "session"  # routed with the session's other click detector, one item
    params = {
        "window_ms": Param(1000, "an error this soon after a click is blamed on it", 1, 60_000),
        "ignore_targets": ignore_param(),
        **checkout_journey_params(),
    }
    window_ms: int
    ignore_targets: list[str]

    def __init__(self, **overrides: ParamValue) -> None:
        super().__init__(**overrides)
        self._ignored = ignore_matcher(self.ignore_targets)

    def state_ttl_ms(self) -> int:
        return self.window_ms * 2

    def key(self, event: Event) -> str | None:
        if event.type == "order_placed":
            return order_key(event)
        if event.type == "click" and self._ignored(event.attrs["target"]):
            return None
        return event.session_id or event.user_id

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        if event.type == "order_placed":
            return
        now = event.time
        clicks = recent_clicks(state.get("clicks"), now, self.window_ms)
        if event.type == "click":
            clicks.append([now, event.attrs["target"], False])
            remembered = len(clicks) <= MAX_REMEMBERED_CLICKS
            state["clicks"] = clicks if remembered else clicks[-MAX_REMEMBERED_CLICKS:]
            return
        state["clicks"] = clicks
        if not clicks or clicks[-1][2]:
            return
        click = clicks[-1]
        click[2] = True
        target = click[1]
        message = event.attrs.get("message", "")
        ctx.emit(
            "error_click",
            severity="warning",
            subject={"session_id": event.session_id, "target": target},
            summary=f"A click on {target} was followed {now - click[0]} ms later by an error.",
            evidence={
                "delay_ms": now - click[0],
                "window_ms": self.window_ms,
                "error": message[:200],
                "page": event.attrs.get("page"),
            },
            user_id=event.user_id,
            session_id=event.session_id,
            segment=target_segment(target),
        )
