"""The checkout journey of click findings: an order of the same session completes it.

Rage and error clicks key by session, as `order_placed` does here, so an order reaches the key
where a click finding's outcome waits; only findings on a checkout page interrupt the journey.
"""

from __future__ import annotations

from friction_detector.detectors.api import Param
from friction_detector.detectors.builtin.segments import page_group
from friction_detector.detectors.events import Event
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.schema import EVENT_TYPES

ORDER_PLACED = {"order_placed": EVENT_TYPES["order_placed"]}
WINDOW_PARAM = "outcome_window_s"


def checkout_journey_params() -> dict[str, Param]:
    return {
        "outcome_page_prefix": Param(
            "/checkout", "a finding on a page under this interrupts the checkout journey"
        ),
        WINDOW_PARAM: Param(
            1800, "an order within this after a checkout finding completes the checkout", 1
        ),
    }


class CheckoutJourney:
    """Mixin of a session-keyed click detector whose checkout findings get an outcome."""

    outcome_page_prefix: str
    outcome_window_s: int

    def completes_journey(self, state: dict, event: Event) -> bool:
        return event.type == "order_placed"

    def starts_journey(self, state: dict, event: Event) -> str | None:
        """An event of the session on a checkout page; its page group is the segment."""
        page = event.attrs.get("page")
        if not isinstance(page, str) or not page.startswith(self.outcome_page_prefix):
            return None
        return page_group(page)

    def journey_segment(self, finding: Finding) -> str:
        """The finding's page group, as a journey's start gives it (its segment is the target)."""
        return page_group(finding.evidence["page"])

    def interrupts_journey(self, finding: Finding) -> bool:
        page = finding.evidence.get("page")
        return isinstance(page, str) and page.startswith(self.outcome_page_prefix)


def order_key(event: Event) -> str | None:
    """The key of an order: its session's, as a click's."""
    return event.session_id or event.user_id
