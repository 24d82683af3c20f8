"""A page's segment is its first path segments, without query or fragment."""

from __future__ import annotations

from friction_detector.detectors.builtin.segments import page_group


def test_the_query_is_stripped_and_two_segments_are_kept() -> None:
    assert page_group("/checkout/payment?x") == "/checkout/payment"


def test_deeper_paths_are_cut_to_their_first_two_segments() -> None:
    assert page_group("/account/orders/42") == "/account/orders"


def test_a_fragment_is_stripped_too() -> None:
    assert page_group("/checkout/payment#card") == "/checkout/payment"
