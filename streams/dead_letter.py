"""The dead-letter record: bad input with its reason, in one shape for files and topics."""

from __future__ import annotations

import orjson

from detectors.events import BadInput


def dead_letter_record(bad: BadInput, source: str, position: int | str) -> bytes:
    """JSON for one bad message; the raw bytes are kept as text so nothing is lost."""
    return orjson.dumps(
        {
            "reason": bad.reason,
            "detail": bad.detail,
            "source": source,
            "position": position,
            "raw": bad.raw.decode("utf-8", errors="backslashreplace"),
        }
    )
