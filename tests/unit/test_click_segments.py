"""A click's segment is its target selector without the parts that make each element unique;
ignored targets are those matching a glob."""

from __future__ import annotations

from fnmatch import fnmatchcase

import pytest
from friction_detector.detectors.builtin.clicks import QUIET_WIDGETS, ignore_matcher, target_segment


@pytest.mark.parametrize(
    ("target", "segment"),
    [
        ("#apply", "#apply"),
        ("button#buy-42", "button"),
        ("#ember123 > a.link", "* > a.link"),
        ("ul.results > li:nth-child(17) > a", "ul.results > li > a"),
        ("tr:nth-of-type(2n+1) td", "tr td"),
        ('a[href="/orders/42"]', "a[href]"),
        ("input[type='text'] ~ span", "input[type] ~ span"),
        (".item-12 .price", ".item- .price"),
        ("div  >  button.buy", "div > button.buy"),
    ],
)
def test_a_selector_is_normalised(target, segment):
    assert target_segment(target) == segment


def test_three_hundred_rows_share_one_segment():
    segments = {target_segment(f"table#orders tr:nth-child({n}) > td.cancel") for n in range(300)}
    assert segments == {"table#orders tr > td.cancel"}


def test_a_long_selector_is_cut():
    assert len(target_segment(".a" * 200)) == 120


IGNORE_TARGETS = [
    "#buy",
    "form input[type=text].name",
    'input[type="number"]',
    "textarea#note",
    "div > textarea",
    "span[role=spinbutton]",
    ".datepicker td",
    "a.download-42",
    "a.download\nb",
    "[",
    "",
]


@pytest.mark.parametrize(
    "patterns",
    [QUIET_WIDGETS, [".datepicker *", "a.download*"], ["#buy"], ["[!a]*", "*?"], []],
)
def test_ignore_matcher_agrees_with_fnmatchcase(patterns):
    """One joined regex answers as the patterns one by one do, globs' `[`, `?`, `!` included."""
    ignored = ignore_matcher(patterns)
    for target in IGNORE_TARGETS:
        expected = any(fnmatchcase(target, pattern) for pattern in patterns)
        assert ignored(target) is expected, (target, patterns)
