"""Events around T0 for the journey tests (outcomes, and journeys without friction): checkout
page loads, orders and form submits, and a harness run past every window."""

from __future__ import annotations

from contract_stream import SECOND, T0
from friction_detector.detectors import Detector
from friction_detector.detectors.testing import DetectorHarness, make_event

MINUTE = 60 * SECOND
WINDOW = 30 * MINUTE  # the journey detectors' default window
LATER = T0 + 24 * 60 * MINUTE  # past every window and key lifetime


def checkout_load(
    offset_ms: int, duration_ms: int, page: str, session_id: str | None = "s-1", **kw
) -> dict:
    return make_event(
        "page_load", T0 + offset_ms, page=page, duration_ms=duration_ms, session_id=session_id,
        **kw,
    )  # fmt: skip


def order(offset_ms: int, session_id: str | None = "s-1", **kw) -> dict:
    return make_event("order_placed", T0 + offset_ms, order_id="o-1", session_id=session_id, **kw)


def submit(offset_ms: int, outcome: str = "error", form_id: str = "signup") -> dict:
    return make_event("form_submit", T0 + offset_ms, form_id=form_id, outcome=outcome)


def run(detector: Detector, *events: dict, lateness_ms: int = 0) -> DetectorHarness:
    """The detector fed `events` in order, then the watermark moved past every window."""
    harness = DetectorHarness(detector, allowed_lateness_ms=lateness_ms)
    harness.feed(*events)
    harness.advance(LATER)
    return harness
