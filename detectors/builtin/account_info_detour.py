"""`account_info_detour`: a customer who needs many steps to reach their account pages."""

from __future__ import annotations

from friction_detector.detectors.api import Context, Detector, Param
from friction_detector.detectors.builtin.segments import page_group
from friction_detector.detectors.events import Event
from friction_detector.detectors.schema import types

MAX_REMEMBERED_STEPS = 100


def is_under(page: str, path: str) -> bool:
    """Whole path segments: `/account` covers `/account/orders`, not `/accounting`."""
    path = path.rstrip("/")
    return page == path or page.startswith(path + "/")


class AccountInfoDetour(Detector):
    """More than N page views or searches within the look-back before the first account page.

    An account page is `account_prefix` or a path under it, matched by whole segments.

    A findability signal: a customer who wanders and searches before reaching account
    information could not see where it lives. Only the first account page of a session is
    judged, and only steps within the look-back count; at most 100 step times per session.
    """

    name = "account_info_detour"
    description = "More than N page views or searches before the first account page of a session."
    consumes = types("page_view", "search")
    params = {
        "account_prefix": Param(
            "/account", "the path, and the paths under it, that hold account information"
        ),
        "max_steps": Param(5, "more page views or searches than this is a detour", 1, 100),
        "lookback_s": Param(600, "only steps this recent count", 10, 86_400),
        "session_ttl_s": Param(3600, "a session idle this long is forgotten", 60, 86_400),
    }
    account_prefix: str
    max_steps: int
    lookback_s: int
    session_ttl_s: int

    def state_ttl_ms(self) -> int:
        return self.session_ttl_s * 1000

    def key(self, event: Event) -> str | None:
        return event.session_id or event.user_id

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        if state.get("reached"):
            return
        page = event.attrs.get("page", "") if event.type == "page_view" else ""
        horizon = event.time - self.lookback_s * 1000
        steps = [s for s in state.get("steps", ()) if s[0] >= horizon]
        if not is_under(page, self.account_prefix):
            steps.append([event.time, event.type == "search"])
            state["steps"] = steps[-MAX_REMEMBERED_STEPS:]
            return
        state["reached"] = True
        state["steps"] = []
        if len(steps) <= self.max_steps:
            return
        searches = sum(1 for s in steps if s[1])
        ctx.emit(
            "detour",
            severity="info",
            subject={"session_id": event.session_id},
            summary=(
                f"The customer took {len(steps)} steps ({searches} searches) before reaching "
                f"{page}: account information is hard to find."
            ),
            evidence={
                "steps": len(steps),
                "searches": searches,
                "page_views": len(steps) - searches,
                "max_steps": self.max_steps,
                "lookback_ms": self.lookback_s * 1000,
                "first_step_ms_before": event.time - steps[0][0],
            },
            user_id=event.user_id,
            session_id=event.session_id,
            segment=page_group(page),
        )
