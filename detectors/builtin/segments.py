"""Low-cardinality segment names for findings, metrics and alerts."""

from __future__ import annotations


def page_group(page: str, depth: int = 2) -> str:
    """The first `depth` path segments of a page, without query: `/checkout/payment?x` -> itself."""
    path = page.split("?", 1)[0].split("#", 1)[0]
    parts = [part for part in path.split("/") if part][:depth]
    return "/" + "/".join(parts)
