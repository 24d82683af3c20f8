"""`ticket_reopened`: a solved ticket that comes back, because the next steps were unclear."""

from __future__ import annotations

from friction_detector.detectors.api import Context, Detector, Param
from friction_detector.detectors.events import Event
from friction_detector.detectors.schema import types

QUESTION = "question"


class TicketReopened(Detector):
    """A `ticket_reopened`, or a customer `ticket_reply` with `intent` "question", within the
    window after `ticket_solved`.

    Reopen rate is a standard help-desk quality metric (Zendesk "reopens"): a ticket that comes
    back shows the answer did not settle it. A plain customer "thank you" (any other intent, or
    none) is not a reopen. One finding per solve.
    """

    name = "ticket_reopened"
    description = "A solved ticket reopened, or met by a new customer question, within a window."
    consumes = types("ticket_created", "ticket_solved", "ticket_reopened", "ticket_reply")
    params = {
        "window_s": Param(7 * 86_400, "a reopen this soon after solving counts", 60, 90 * 86_400),
    }
    window_s: int

    def state_ttl_ms(self) -> int:
        return self.window_s * 1000

    def key(self, event: Event) -> str | None:
        return event.attrs["ticket_id"]

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        if event.type == "ticket_created":
            state["queue"] = event.attrs.get("queue", "default")
            return
        if event.type == "ticket_solved":
            state["solved"] = event.time
            state["reported"] = False
            return
        solved = state.get("solved")
        if solved is None or state["reported"] or event.time - solved > self.window_s * 1000:
            return
        if event.type == "ticket_reply":
            if event.attrs["author"] != "customer" or event.attrs.get("intent") != QUESTION:
                return
            how = "answered with a new question"
        else:
            how = "reopened"
        state["reported"] = True
        after_ms = event.time - solved
        queue = state.get("queue", "default")
        ticket_id = event.attrs["ticket_id"]
        ctx.emit(
            "reopened",
            severity="info",
            subject={"ticket_id": ticket_id},
            summary=(
                f"Ticket {ticket_id} was {how} {after_ms / 3600_000:.1f} h after it was solved: "
                "the next steps were not clear."
            ),
            evidence={"after_solved_ms": after_ms, "window_ms": self.window_s * 1000, "how": how},
            user_id=event.user_id,
            session_id=event.session_id,
            segment=queue,
        )
