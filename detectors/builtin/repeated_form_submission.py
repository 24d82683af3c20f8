"""`repeated_form_submission`: a customer submitting one form again and again in a short burst."""

from __future__ import annotations

from friction_detector.detectors.api import Context, Detector, Journey, Param
from friction_detector.detectors.events import Event
from friction_detector.detectors.schema import CONTRACT_TYPES


class RepeatedFormSubmission(Detector):
    """A burst is a run of submits with no gap longer than the window; one finding per burst."""

    name = "repeated_form_submission"
    description = "N or more submits of one form in one session within the window; one per burst."
    consumes = {"form_submit": CONTRACT_TYPES["form_submit"]}
    journey = Journey(kinds=("repeated_submit",), window_param="outcome_window_s")
    params = {
        "min_submits": Param(3, "this many submits within the window is friction", minimum=2),
        "window_s": Param(120, "the sliding window, and the gap that ends a burst", minimum=1),
        "outcome_window_s": Param(
            1800, "a successful submit within this after the finding completes the form", minimum=1
        ),
    }
    min_submits: int
    window_s: int
    outcome_window_s: int

    def state_ttl_ms(self) -> int:
        return self.window_s * 1000

    def key(self, event: Event) -> str | None:
        session = event.session_id or event.user_id
        if session is None:
            return None
        return session + "|" + event.attrs["form_id"]

    def completes_journey(self, state: dict, event: Event) -> bool:
        return event.attrs["outcome"] == "success"

    def starts_journey(self, state: dict, event: Event) -> str | None:
        """A submit of the form: a successful one completes its journey at once."""
        return event.attrs["form_id"]

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        window_ms = self.window_s * 1000
        times = [t for t in state.get("times", ()) if event.time - t <= window_ms]
        if not times:
            state["reported"] = False
            state["errors"] = 0
        times.append(event.time)
        state["times"] = times
        if event.attrs["outcome"] == "error":
            state["errors"] = state.get("errors", 0) + 1
        if len(times) < self.min_submits or state["reported"]:
            return
        state["reported"] = True
        form_id = event.attrs["form_id"]
        ctx.emit(
            "repeated_submit",
            severity="warning",
            subject={"session_id": event.session_id or event.user_id, "form_id": form_id},
            summary=(
                f"Form {form_id} was submitted {len(times)} times within "
                f"{(times[-1] - times[0]) / 1000:.0f} s: the customer may be stuck."
            ),
            evidence={
                "submits": len(times),
                "min_submits": self.min_submits,
                "window_ms": window_ms,
                "errors": state["errors"],
                "error_fields": event.attrs.get("error_fields", []),
            },
            user_id=event.user_id,
            session_id=event.session_id,
            segment=form_id,
        )
