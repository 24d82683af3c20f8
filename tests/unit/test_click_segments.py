"""A click's segment is its target selector without the parts that make each element unique."""

from __future__ import annotations

import pytest
from friction_detector.detectors.builtin.clicks import target_segment


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
