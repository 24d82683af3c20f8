"""`late_transactional_email`: a code, receipt or magic link that arrives late or not at all."""

from __future__ import annotations

from friction_detector.detectors.api import Measurement, Param
from friction_detector.detectors.builtin.awaited_reply import AwaitedReply
from friction_detector.detectors.events import Event
from friction_detector.detectors.schema import types

DEFAULT_TEMPLATE = "*"


def parse_deadlines(entries: list[str]) -> dict[str, tuple[int, int]]:
    """`template:late_s:missing_s` lines as a table; raises ValueError naming the bad line."""
    table: dict[str, tuple[int, int]] = {}
    for entry in entries:
        parts = entry.split(":")
        try:
            template, late_s, missing_s = parts[0], int(parts[1]), int(parts[2])
        except (IndexError, ValueError):
            raise ValueError(
                f"deadlines entry {entry!r} is not 'template:late_s:missing_s'"
            ) from None
        if len(parts) != 3 or not template or not 1 <= late_s <= missing_s <= 7 * 86_400:
            raise ValueError(
                f"deadlines entry {entry!r}: "
                "needs a template and 1 <= late_s <= missing_s <= 604800"
            )
        table[template] = (late_s, missing_s)
    if DEFAULT_TEMPLATE not in table:
        raise ValueError("deadlines must have a '*:late_s:missing_s' default entry")
    return table


class LateTransactionalEmail(AwaitedReply):
    """`late_reset_email` generalised: each template has its own late and missing limits.

    Defaults: one-time codes and magic links are late after 60 s and missing after 10 min, the
    validity NIST SP 800-63B allows an out-of-band code; password resets match
    `late_reset_email`; receipts and order confirmations get 5 min / 1 h; any other template
    2 min / 30 min. One finding per `request_id`; `segment` is the template.
    """

    name = "late_transactional_email"
    description = "A transactional email delivered after its template's limit, or not at all."
    consumes = types("email_requested", "email_delivered")
    params = {
        "deadlines": Param(
            [
                "verification_code:60:600",
                "magic_link:60:600",
                "password_reset:60:600",
                "receipt:300:3600",
                "order_confirmation:300:3600",
                "*:120:1800",
            ],
            "per template 'template:late_s:missing_s'; '*' is the default",
        ),
    }
    deadlines: list[str]

    subject_attr = "request_id"
    measurement = "transactional_email_delay"
    measurements = {
        "transactional_email_delay": Measurement(
            metric="friction_transactional_email_delay_seconds",
            help="Delay from a transactional email request to its delivery.",
            buckets=(5, 10, 30, 60, 120, 300, 600, 1800, 3600),
            label="template",
        )
    }
    evidence_names = ("delay_ms", "late_after_ms", "missing_after_ms")

    def __init__(self, **overrides) -> None:
        super().__init__(**overrides)
        try:
            self.table = parse_deadlines(self.deadlines)
        except ValueError as err:
            raise ValueError(f"{self.name}: {err}") from None

    def limits(self, template: str) -> tuple[int, int]:
        return self.table.get(template) or self.table[DEFAULT_TEMPLATE]

    def limits_ms(self, state: dict) -> tuple[int, int]:
        late_s, missing_s = self.limits(state["segment"])
        return late_s * 1000, missing_s * 1000

    def state_ttl_ms(self) -> int:
        return max(missing for _, missing in self.table.values()) * 1000

    def opening(self, event: Event) -> dict | None:
        if event.type != "email_requested":
            return None
        return {"segment": event.attrs["template"]}

    def is_reply(self, event: Event) -> bool:
        return event.type == "email_delivered"

    def summary(self, kind: str, waited_ms: int, state: dict) -> str:
        template = state["segment"]
        late_s, missing_s = self.limits(template)
        if kind == "late":
            return (
                f"The {template} email arrived {waited_ms / 1000:.0f} s after the request "
                f"(limit {late_s} s)."
            )
        return (
            f"No {template} email {missing_s} s after the request: offer the customer another way."
        )
