"""`slow_ticket_response`: a support ticket whose first agent reply comes after its SLA."""

from __future__ import annotations

from detectors.api import Context, Detector, Param
from detectors.builtin.catalogue_types import types
from detectors.events import Event

DEADLINE = "deadline"


class SlowTicketResponse(Detector):
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

    def state_ttl_ms(self) -> int:
        return max(self.missing_after_s, self.sla_s) * 1000

    def key(self, event: Event) -> str | None:
        return event.attrs["ticket_id"]

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        if event.type == "ticket_created":
            if "created" not in state:
                sla_s = event.attrs.get("sla_s", self.sla_s)
                state.update(
                    ticket_id=event.attrs["ticket_id"],
                    created=event.time,
                    sla_ms=int(sla_s * 1000),
                    queue=event.attrs.get("queue", "default"),
                    user_id=event.user_id,
                )
                deadline_ms = max(self.missing_after_s * 1000, state["sla_ms"])
                ctx.schedule(DEADLINE, event.time + deadline_ms)
            return
        if "created" not in state or state.get("done"):
            return
        if event.type == "ticket_reply" and event.attrs["author"] != "agent":
            return
        state["done"] = True
        ctx.cancel(DEADLINE)
        wait_ms = event.time - state["created"]
        ctx.observe("ticket_first_reply", wait_ms / 1000, state["queue"])
        if wait_ms > state["sla_ms"]:
            self._report(state, ctx, "late", "warning", wait_ms)

    def on_deadline(self, state: dict, tag: str, ctx: Context) -> None:
        if state.get("done"):
            return
        state["done"] = True
        self._report(state, ctx, "missing", "critical", ctx.now - state["created"])

    def _report(self, state: dict, ctx: Context, kind: str, severity: str, wait_ms: int) -> None:
        queue = state["queue"]
        if kind == "late":
            summary = (
                f"Ticket {state['ticket_id']} in {queue} got its first reply after "
                f"{wait_ms / 3600_000:.1f} h (SLA {state['sla_ms'] / 3600_000:.1f} h)."
            )
        else:
            summary = (
                f"Ticket {state['ticket_id']} in {queue} has had no reply for "
                f"{wait_ms / 3600_000:.1f} h: answer it now."
            )
        ctx.emit(
            kind,
            severity=severity,
            subject={"ticket_id": state["ticket_id"]},
            summary=summary,
            evidence={
                "wait_ms": wait_ms,
                "sla_ms": state["sla_ms"],
                "missing_after_ms": max(self.missing_after_s * 1000, state["sla_ms"]),
            },
            user_id=state.get("user_id"),
            segment=queue,
        )
