"""`order_silence`: an order after which the customer hears nothing about shipping."""

from __future__ import annotations

from friction_detector.detectors.api import Context, Detector, Measurement, Param
from friction_detector.detectors.events import Event
from friction_detector.detectors.schema import types

DEADLINE = "deadline"


class OrderSilence(Detector):
    """No customer-facing `order_update` within the limit after `order_placed`.

    "Where is my order?" contacts follow silence; the default 48 h matches the common promise
    to ship or confirm within two business days. State per order is a few fields, held for the
    limit and then expired, so the keys held equal the orders placed within one limit.
    """

    name = "order_silence"
    description = "No order_update to the customer within the limit after order_placed."
    consumes = types("order_placed", "order_update")
    measurements = {
        "order_first_update": Measurement(
            metric="friction_order_first_update_seconds",
            help="Wait from an order to its first update to the customer.",
            buckets=(3600, 14400, 43200, 86400, 172800, 259200, 604800),
            label="channel",
        )
    }
    params = {
        "silence_after_s": Param(
            48 * 3600, "no update within this after the order is silence", 60, 30 * 86_400
        ),
    }
    silence_after_s: int

    def state_ttl_ms(self) -> int:
        return self.silence_after_s * 1000

    def key(self, event: Event) -> str | None:
        return event.attrs["order_id"]

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        if event.type == "order_placed":
            if "placed" not in state and not state.get("updated"):
                state.update(
                    order_id=event.attrs["order_id"],
                    placed=event.time,
                    channel=event.attrs.get("channel", "default"),
                    user_id=event.user_id,
                )
                ctx.schedule(DEADLINE, event.time + self.silence_after_s * 1000)
            return
        state["updated"] = True
        if "placed" in state and not state.get("done"):
            state["done"] = True
            ctx.cancel(DEADLINE)
            ctx.observe(
                "order_first_update", (event.time - state["placed"]) / 1000, state["channel"]
            )

    def on_deadline(self, state: dict, tag: str, ctx: Context) -> None:
        if state.get("done"):
            return
        state["done"] = True
        hours = self.silence_after_s / 3600
        ctx.emit(
            "no_update",
            severity="warning",
            subject={"order_id": state["order_id"]},
            summary=f"No update about order {state['order_id']} {hours:g} h after it was placed.",
            evidence={
                "silence_ms": ctx.now - state["placed"],
                "limit_ms": self.silence_after_s * 1000,
            },
            user_id=state.get("user_id"),
            segment=state["channel"],
        )
