"""`address_retry`: an address rejected again and again by the validator in one session."""

from __future__ import annotations

from friction_detector.detectors import STRING, Attr, Context, Detector, Event, Param


class AddressRetry(Detector):
    name = "address_retry"
    description = "The address validator rejects one session's address N times within the window."
    consumes = {
        "address_validated": {
            "outcome": Attr(STRING, choices=("accepted", "rejected")),
            "country": Attr(STRING, required=False),
        }
    }
    params = {
        "max_rejections": Param(3, "this many rejections in the window is friction", minimum=2),
        "window_s": Param(300, "rejections older than this are forgotten", minimum=1),
    }
    max_rejections: int
    window_s: int

    def state_ttl_ms(self) -> int:
        return self.window_s * 1000

    def key(self, event: Event) -> str | None:
        return event.session_id

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        if event.attrs["outcome"] == "accepted" or state.get("reported"):
            return
        window_ms = self.window_s * 1000
        rejections = [t for t in state.get("rejections", []) if event.time - t < window_ms]
        rejections.append(event.time)
        state["rejections"] = rejections
        if len(rejections) < self.max_rejections:
            return
        state["reported"] = True
        country = event.attrs.get("country", "unknown")
        ctx.emit(
            "address_rejected",
            severity="warning",
            subject={"session_id": event.session_id},
            summary=f"The address was rejected {len(rejections)} times: check the validator "
            f"rules for {country}.",
            evidence={"rejections": len(rejections), "max_rejections": self.max_rejections},
            user_id=event.user_id,
            session_id=event.session_id,
            segment=country,
        )
