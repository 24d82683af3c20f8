"""`slow_checkout`: a checkout page that loads too slowly, once per session per quiet period."""

from __future__ import annotations

from friction_detector.detectors.api import Context, Detector, Journey, Measurement, Param
from friction_detector.detectors.builtin.segments import page_group
from friction_detector.detectors.events import Event
from friction_detector.detectors.schema import CONTRACT_TYPES, EVENT_TYPES


class SlowCheckout(Detector):
    name = "slow_checkout"
    description = (
        "A checkout page load slower than the threshold; one finding per session per period."
    )
    # `order_placed` only completes the checkout a slow load interrupted (the journey).
    consumes = {
        "page_load": CONTRACT_TYPES["page_load"],
        "order_placed": EVENT_TYPES["order_placed"],
    }
    journey = Journey(kinds=("slow_load",), window_param="outcome_window_s")
    measurements = {
        "checkout_load": Measurement(
            metric="friction_checkout_load_seconds",
            help="Checkout page load time.",
            buckets=(0.5, 1, 2, 2.5, 3, 4, 5, 7.5, 10, 15, 30, 60),
            label="page_group",
        )
    }
    params = {
        "page_prefix": Param("/checkout", "page paths this detector watches"),
        "threshold_ms": Param(4000, "a load slower than this is friction", minimum=1),
        "period_s": Param(1800, "at most one finding per session within this period", minimum=1),
        "outcome_window_s": Param(
            1800, "an order within this after the slow load completes the checkout", minimum=1
        ),
    }
    page_prefix: str
    threshold_ms: int
    period_s: int
    outcome_window_s: int

    def state_ttl_ms(self) -> int:
        return self.period_s * 1000

    def key(self, event: Event) -> str | None:
        if event.type == "order_placed":  # to the session's key, where its findings wait
            return event.session_id or event.user_id
        if not event.attrs["page"].startswith(self.page_prefix):
            return None
        return event.session_id or event.user_id or event.event_id

    def completes_journey(self, state: dict, event: Event) -> bool:
        return event.type == "order_placed"

    def starts_journey(self, state: dict, event: Event) -> str | None:
        """A checkout page load of a session (or user), whose order would reach this key."""
        if event.type != "page_load" or not (event.session_id or event.user_id):
            return None
        return page_group(event.attrs["page"])

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        if event.type != "page_load":
            return
        duration_ms = event.attrs["duration_ms"]
        segment = page_group(event.attrs["page"])
        ctx.observe("checkout_load", duration_ms / 1000, segment)
        if duration_ms <= self.threshold_ms:
            return
        last = state.get("last_finding")
        if last is not None and event.time - last < self.period_s * 1000:
            return
        state["last_finding"] = event.time
        ctx.emit(
            "slow_load",
            severity="warning",
            subject=_subject(event),
            summary=(
                f"Checkout page {event.attrs['page']} took {duration_ms / 1000:.1f} s to load "
                f"(limit {self.threshold_ms / 1000:.1f} s)."
            ),
            evidence={
                "duration_ms": duration_ms,
                "threshold_ms": self.threshold_ms,
                "page": event.attrs["page"],
            },
            user_id=event.user_id,
            session_id=event.session_id,
            segment=segment,
        )


def _subject(event: Event) -> dict:
    """The id the finding was keyed on, so two customers' findings never share an id."""
    if event.session_id:
        return {"session_id": event.session_id}
    if event.user_id:
        return {"user_id": event.user_id}
    return {"event_id": event.event_id}
