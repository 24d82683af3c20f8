"""Low-cardinality segment names for findings, metrics and alerts."""

from __future__ import annotations


def page_group(page: str, depth: int = 2) -> str:
    """The first `depth` path segments of a page, without query or fragment:
    `/checkout/payment?x` -> `/checkout/payment`, `/account/orders/42` -> `/account/orders`."""
    path = page.split("?", 1)[0].split("#", 1)[0]
    parts = [part for part in path.split("/") if part][:depth]
    return "/" + "/".join(parts)
