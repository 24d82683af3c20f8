"""The dead-letter record: bad input with its reason, in one shape for files and topics."""

from __future__ import annotations

import orjson

from detectors.events import BadInput, Event

DETECTOR_ERROR = "detector_error"


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


def detector_error_input(detector: str, event: Event, error: Exception) -> BadInput:
    """An event a detector raised on, as bad input: kept whole, with the detector and error."""
    raw = orjson.dumps(
        {
            "event_id": event.event_id,
            "type": event.type,
            "time": event.time,
            "user_id": event.user_id,
            "session_id": event.session_id,
            "attrs": event.attrs,
        }
    )
    detail = f"detector {detector} raised {type(error).__name__}: {error}"
    return BadInput(DETECTOR_ERROR, detail, raw)
