"""Shared reading of `click` events: ignore lists, dead clicks, Core Web Vitals ratings."""

from __future__ import annotations

import re
from collections.abc import Callable
from fnmatch import translate

from friction_detector.detectors.api import Param

# Core Web Vitals, Interaction to Next Paint: good <= 200 ms, poor > 500 ms (web.dev/inp).
INP_GOOD_MS = 200
INP_POOR_MS = 500
SEGMENT_CHARS = 120
# Targets whose ignore-list answer a click detector keeps at hand (ignore_matcher).
KNOWN_TARGETS = 4096

# What makes a selector name one element among many, dropped from its segment: an attribute's
# value, a position among siblings, an id with a digit in it (generated: `#ember123`), digits.
_ATTRIBUTE_VALUE = re.compile(
    r"""\[\s*([^\s\]=~|^$*]+)\s*[~|^$*]?=\s*(?:"[^"]*"|'[^']*'|[^\]\s]*)\s*(?:[iIsS]\s*)?\]"""
)
_POSITION = re.compile(r":(?:nth-child|nth-last-child|nth-of-type|nth-last-of-type|eq)\([^)]*\)")
_GENERATED_ID = re.compile(r"#[\w-]*\d[\w-]*")
_DIGITS = re.compile(r"\d+")
_COMBINATOR = re.compile(r"\s*([>+~])\s*|\s+")


# Widgets whose clicks show no response and come in runs by design: text fields (a click
# focuses them) and number steppers. Glob patterns, so `[[]` is a literal `[` and `?` a quote.
QUIET_WIDGETS = [
    "*input[[]type=text]*",
    "*input[[]type=?text?]*",
    "*input[[]type=number]*",
    "*input[[]type=?number?]*",
    "textarea*",
    "*[ >]textarea*",
    "*[[]role=spinbutton]*",
    "*[[]role=?spinbutton?]*",
]


def ignore_param(default: list[str] | None = None) -> Param:
    return Param(
        list(default or []),
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
    return Param(
        False, "a click without response_ms counts as dead (off: its response was not measured)"
    )


def ignore_matcher(patterns: list[str]) -> Callable[[str], bool]:
    """Whether a target matches any of the glob patterns, as `fnmatchcase` says.

    A click detector tests every click against its list (eight patterns by default, most of
    them `*...*`, a scan of the target each), and a site's clicks land on a few thousand
    selectors at most: each target's answer is kept (up to `KNOWN_TARGETS`, then forgotten
    all at once), so a repeated target costs one lookup.
    """
    if not patterns:
        return _never
    match = re.compile("|".join(translate(pattern) for pattern in patterns)).match
    known: dict[str, bool] = {}

    def ignored(target: str) -> bool:
        answer = known.get(target)
        if answer is None:
            if len(known) >= KNOWN_TARGETS:
                known.clear()
            answer = known[target] = match(target) is not None
        return answer

    return ignored


def _never(target: str) -> bool:
    return False


def recent_clicks(remembered: list | None, now: int, window_ms: int) -> list:
    """A new list of the remembered clicks (`[time, ...]`) no older than `window_ms` at `now`.

    Runs on every click of a session; most sessions remember none or a few, so the empty
    case skips the filter."""
    if not remembered:
        return []
    return [click for click in remembered if now - click[0] <= window_ms]


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
    """The selector as a metric and alert group, as `page_group` is for pages: the rows of one
    table, `tr:nth-child(3) > a` and `tr:nth-child(4) > a`, share `tr > a`.

    Attribute values, `:nth-*(...)` and `:eq(...)`, ids with a digit and digits are dropped (a
    compound left empty reads `*`), combinators spaced alike, and the result cut to 120 chars.
    """
    selector = _ATTRIBUTE_VALUE.sub(r"[\1]", target)
    selector = _POSITION.sub("", selector)
    selector = _GENERATED_ID.sub("", selector)
    selector = _DIGITS.sub("", selector)
    parts = _COMBINATOR.split(selector.strip())
    compounds = [part or "*" for part in parts[::2]]
    combinators = [f" {part} " if part else " " for part in parts[1::2]]
    out = compounds[0]
    for combinator, compound in zip(combinators, compounds[1:], strict=True):
        out += combinator + compound
    return out[:SEGMENT_CHARS]
