"""Shared reading of `click` events: ignore lists, dead clicks, Core Web Vitals ratings."""

from __future__ import annotations

from fnmatch import fnmatchcase

from friction_detector.detectors.api import Param

# Core Web Vitals, Interaction to Next Paint: good <= 200 ms, poor > 500 ms (web.dev/inp).
INP_GOOD_MS = 200
INP_POOR_MS = 500
SEGMENT_CHARS = 120


def ignore_param() -> Param:
    return Param(
        [],
        "targets never reported (glob patterns, e.g. '.datepicker *', 'a.download'), "
        "for calendars, steppers and download links",
    )


def dead_after_param() -> Param:
    return Param(
        2500,
        "a click with no visible response within this many ms is dead (PostHog 2500)",
        minimum=1,
        maximum=60_000,
    )


def missing_response_param() -> Param:
    return Param(True, "a click without response_ms had no visible response, so it is dead")


def is_ignored(target: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(target, pattern) for pattern in patterns)


def is_dead(response_ms: float | None, dead_after_ms: int, missing_is_dead: bool) -> bool:
    if response_ms is None:
        return missing_is_dead
    return response_ms > dead_after_ms


def inp_rating(response_ms: float | None) -> str:
    """The Core Web Vitals INP band a response time falls in, or `none` without a response."""
    if response_ms is None:
        return "none"
    if response_ms <= INP_GOOD_MS:
        return "good"
    return "needs_improvement" if response_ms <= INP_POOR_MS else "poor"


def target_segment(target: str) -> str:
    """The selector as a metric and alert group; producers should send stable selectors."""
    return target[:SEGMENT_CHARS]
