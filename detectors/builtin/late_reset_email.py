"""`late_reset_email`: a password-reset email that arrives late, or not at all."""

from __future__ import annotations

from friction_detector.detectors.api import Measurement, Param
from friction_detector.detectors.builtin.awaited_reply import AwaitedReply
from friction_detector.detectors.events import Event
from friction_detector.detectors.schema import CONTRACT_TYPES

SEGMENT = "password_reset"


class LateResetEmail(AwaitedReply):
    """The contract's rule: late after 60 s, missing at 10 minutes, one per `request_id`.

    A missing email is counted under `password_reset`, since the request names no template;
    a late one under the template its delivery names.
    """

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
    late_after_s: int
    missing_after_s: int
    subject_attr = "request_id"
    measurement = "reset_email_delay"
    measurements = {
        "reset_email_delay": Measurement(
            metric="friction_reset_email_delay_seconds",
            help="Delay from password-reset request to email delivery.",
            buckets=(5, 10, 30, 60, 120, 300, 600, 1200, 3600),
            label="template",
        )
    }
    evidence_names = ("delay_ms", "late_after_ms", "missing_after_ms")

    def state_ttl_ms(self) -> int:
        return self.missing_after_s * 1000

    def opening(self, event: Event) -> dict | None:
        return {"segment": SEGMENT} if event.type == "password_reset_requested" else None

    def is_reply(self, event: Event) -> bool:
        return event.type == "email_delivered"

    def reply_segment(self, event: Event, state: dict) -> str:
        return event.attrs.get("template", SEGMENT)

    def limits_ms(self, state: dict) -> tuple[int, int]:
        return self.late_after_s * 1000, self.missing_after_s * 1000

    def summary(self, kind: str, waited_ms: int, state: dict) -> str:
        if kind == "late":
            return (
                f"Password-reset email arrived {waited_ms / 1000:.0f} s after the request "
                f"(limit {self.late_after_s} s)."
            )
        return (
            f"No password-reset email {self.missing_after_s // 60} min after the request: "
            "offer the customer another way in."
        )
