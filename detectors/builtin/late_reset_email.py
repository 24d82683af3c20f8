"""`late_reset_email`: a password-reset email that arrives late, or not at all."""

from __future__ import annotations

from detectors.api import Context, Detector, Param
from detectors.events import Event
from detectors.schema import CONTRACT_TYPES

DEADLINE = "deadline"


class LateResetEmail(Detector):
    name = "late_reset_email"
    description = "Reset email delivered after the limit (late) or not by the deadline (missing)."
    consumes = {
        "password_reset_requested": CONTRACT_TYPES["password_reset_requested"],
        "email_delivered": CONTRACT_TYPES["email_delivered"],
    }
    params = {
        "late_after_s": Param(
            60, "a delivery later than this after the request is late", minimum=1
        ),
        "missing_after_s": Param(600, "no delivery by then is a missing email", minimum=1),
    }

    def state_ttl_ms(self) -> int:
        return self.missing_after_s * 1000

    def key(self, event: Event) -> str | None:
        return event.attrs["request_id"]

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        if event.type == "password_reset_requested":
            if "requested" not in state:
                state.update(
                    request_id=event.attrs["request_id"],
                    requested=event.time,
                    user_id=event.user_id,
                    session_id=event.session_id,
                )
                ctx.schedule(DEADLINE, event.time + self.missing_after_s * 1000)
            return
        requested = state.get("requested")
        if requested is None or state.get("delivered"):
            return
        state["delivered"] = True
        delay_ms = event.time - requested
        template = event.attrs.get("template", "password_reset")
        ctx.observe("reset_email_delay", delay_ms / 1000, template)
        if state.get("done"):
            return
        state["done"] = True
        ctx.cancel(DEADLINE)
        if delay_ms > self.late_after_s * 1000:
            self._report(
                state,
                ctx,
                "late",
                "warning",
                template,
                delay_ms,
                f"Password-reset email arrived {delay_ms / 1000:.0f} s after the request "
                f"(limit {self.late_after_s} s).",
            )

    def on_deadline(self, state: dict, tag: str, ctx: Context) -> None:
        if state.get("done"):
            return
        state["done"] = True
        self._report(
            state,
            ctx,
            "missing",
            "critical",
            "password_reset",
            None,
            f"No password-reset email {self.missing_after_s // 60} min after the request: "
            "offer the customer another way in.",
        )

    def _report(
        self,
        state: dict,
        ctx: Context,
        kind: str,
        severity: str,
        template: str,
        delay_ms: int | None,
        summary: str,
    ) -> None:
        ctx.emit(
            kind,
            severity=severity,
            subject={"request_id": state["request_id"]},
            summary=summary,
            evidence={
                "delay_ms": delay_ms,
                "late_after_ms": self.late_after_s * 1000,
                "missing_after_ms": self.missing_after_s * 1000,
            },
            user_id=state.get("user_id"),
            session_id=state.get("session_id"),
            segment=template,
        )
