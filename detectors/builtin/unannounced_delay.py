"""`unannounced_delay`: a shipment or appointment delay that the customer is not told about."""

from __future__ import annotations

from friction_detector.detectors.api import Context, Detector, Measurement, Param
from friction_detector.detectors.events import Event
from friction_detector.detectors.schema import types

DEADLINE = "deadline"


class UnannouncedDelay(Detector):
    """A `delay_marked` with no `customer_notified` for the same `ref_id` within the limit.

    Proactive delay notices are the first rule of service recovery: the customer should hear
    of a delay from the business before they notice it. Each new delay mark after a notice or
    a finding opens a new clock; one finding per delay.
    """

    name = "unannounced_delay"
    description = "A shipment or appointment marked delayed with no customer notice in time."
    consumes = types("delay_marked", "customer_notified")
    measurements = {
        "delay_notice": Measurement(
            metric="friction_delay_notice_seconds",
            help="Wait from a delay mark to the customer notice.",
            buckets=(60, 300, 900, 1800, 3600, 7200, 14400, 28800),
            label="ref_type",
        )
    }
    params = {
        "notify_within_s": Param(4 * 3600, "a delay must be announced within this", 60, 7 * 86_400),
    }
    notify_within_s: int

    def state_ttl_ms(self) -> int:
        return self.notify_within_s * 1000

    def key(self, event: Event) -> str | None:
        return event.attrs["ref_id"]

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        if event.type == "delay_marked":
            if state.get("open"):
                return
            state.update(
                open=True,
                ref_id=event.attrs["ref_id"],
                ref_type=event.attrs["ref_type"],
                reason=event.attrs.get("reason"),
                marked=event.time,
                user_id=event.user_id,
            )
            ctx.schedule(DEADLINE, event.time + self.notify_within_s * 1000)
            return
        if state.get("open"):
            state["open"] = False
            ctx.cancel(DEADLINE)
            ctx.observe("delay_notice", (event.time - state["marked"]) / 1000, state["ref_type"])

    def on_deadline(self, state: dict, tag: str, ctx: Context) -> None:
        if not state.get("open"):
            return
        state["open"] = False
        ref_type = state["ref_type"]
        ctx.emit(
            "unannounced",
            severity="warning",
            subject={"ref_id": state["ref_id"], "ref_type": ref_type},
            summary=(
                f"The {ref_type} {state['ref_id']} was marked delayed "
                f"{self.notify_within_s / 3600:g} h ago and the customer has not been told."
            ),
            evidence={
                "since_mark_ms": ctx.now - state["marked"],
                "limit_ms": self.notify_within_s * 1000,
                "reason": state.get("reason"),
            },
            user_id=state.get("user_id"),
            segment=ref_type,
        )
