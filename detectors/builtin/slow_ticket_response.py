"""`slow_ticket_response`: a support ticket whose first agent reply comes after its SLA."""

from __future__ import annotations

from friction_detector.detectors.api import Measurement, Param
from friction_detector.detectors.builtin.awaited_reply import AwaitedReply
from friction_detector.detectors.events import Event
from friction_detector.detectors.schema import types


class SlowTicketResponse(AwaitedReply):
    """First agent `ticket_reply` (or the ticket solved) later than the ticket's SLA.

    First reply time as Zendesk and Freshdesk measure it, against the ticket's own `sla_s`
    when the producer sends one, else `sla_s` here. With no reply by `missing_after_s` (or the
    ticket's SLA if longer) the finding is `missing`, at that deadline; one per ticket.
    """

    name = "slow_ticket_response"
    description = "First agent reply after the ticket's SLA (late), or none by the deadline."
    consumes = types("ticket_created", "ticket_reply", "ticket_solved")
    params = {
        "sla_s": Param(
            4 * 3600, "default first-reply SLA when the ticket has none", 60, 30 * 86_400
        ),
        "missing_after_s": Param(24 * 3600, "no reply by then is missing", 60, 30 * 86_400),
    }
    sla_s: int
    missing_after_s: int

    subject_attr = "ticket_id"
    measurement = "ticket_first_reply"
    measurements = {
        "ticket_first_reply": Measurement(
            metric="friction_ticket_first_reply_seconds",
            help="Wait from ticket creation to the first agent reply.",
            buckets=(300, 900, 1800, 3600, 7200, 14400, 28800, 57600, 86400),
            label="queue",
        )
    }
    evidence_names = ("wait_ms", "sla_ms", "missing_after_ms")

    def state_ttl_ms(self) -> int:
        return max(self.missing_after_s, self.sla_s) * 1000

    def opening(self, event: Event) -> dict | None:
        if event.type != "ticket_created":
            return None
        return {
            "segment": event.attrs.get("queue", "default"),
            "sla_ms": int(event.attrs.get("sla_s", self.sla_s) * 1000),
        }

    def is_reply(self, event: Event) -> bool:
        return event.type == "ticket_solved" or event.attrs.get("author") == "agent"

    def limits_ms(self, state: dict) -> tuple[int, int]:
        return state["sla_ms"], max(self.missing_after_s * 1000, state["sla_ms"])

    def summary(self, kind: str, waited_ms: int, state: dict) -> str:
        ticket, queue = state["subject_id"], state["segment"]
        if kind == "late":
            return (
                f"Ticket {ticket} in {queue} got its first reply after "
                f"{waited_ms / 3600_000:.1f} h (SLA {state['sla_ms'] / 3600_000:.1f} h)."
            )
        return (
            f"Ticket {ticket} in {queue} has had no reply for {waited_ms / 3600_000:.1f} h: "
            "answer it now."
        )
