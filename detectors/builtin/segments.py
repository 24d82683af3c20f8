"""Low-cardinality segment names for findings, metrics and alerts."""

from __future__ import annotations

from functools import lru_cache

# Pages whose group is kept at hand: a site's checkout and account pages are a few hundred at
# most, and the group is asked for on every checkout page load and click.
KNOWN_PAGES = 4096


@lru_cache(maxsize=KNOWN_PAGES)
def page_group(page: str, depth: int = 2) -> str:
    """The first `depth` path segments of a page, without query or fragment:
    `/checkout/payment?x` -> `/checkout/payment`, `/account/orders/42` -> `/account/orders`."""
    path = page.split("?", 1)[0].split("#", 1)[0]
    parts = [part for part in path.split("/") if part][:depth]
    return "/" + "/".join(parts)
