"""Event time as integer epoch milliseconds, the one unit the core computes in."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# RFC 3339 date-time; `fromisoformat` alone also takes ISO 8601 forms the contract excludes.
_RFC_3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", re.ASCII)


_MIN_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
# The three digits of a stamp's milliseconds, read by one lookup; anything else is not there.
_MILLIS = {f"{ms:03d}": ms for ms in range(1000)}
_WHOLE_SECONDS: dict[str, int] = {}  # "2026-11-22T10:15:03" -> its epoch milliseconds
_CACHE_LIMIT = 4096


def parse_time(value: object) -> int | None:
    """Return epoch milliseconds for an RFC 3339 string with offset or an int; None if invalid.

    Live streams carry many events per second in UTC (`...T10:15:03.120Z`): the whole seconds of
    such a stamp are parsed once and cached, the milliseconds looked up and added,
    and anything else takes the full parse.
    """
    if type(value) is int:
        # Only times that findings can carry back out as RFC 3339 (years 1 to 9999).
        return value if _MIN_MS <= value <= _MAX_MS else None
    if type(value) is not str:
        return None
    if len(value) == 24 and value[23] == "Z" and value[19] == ".":
        millis = _MILLIS.get(value[20:23])
        if millis is not None:
            seconds_ms = _WHOLE_SECONDS.get(value[:19])
            if seconds_ms is None:
                seconds_ms = _parse_whole_seconds(value[:19])
                if seconds_ms is None:
                    return None
            return seconds_ms + millis
    return _parse_full(value)


# `usual_time(value)`: epoch milliseconds for the usual forms (an int, `...T10:15:03.120Z`), read
# by the compiled core (detectors/core/src/timefmt.rs) at a fraction of `parse_time`'s cost;
# None means only that `parse_time` must judge the value. The decoder reads one time per event.
try:
    from friction_detector.detectors._core import usual_time
except ImportError:  # installed without cargo (pyproject.toml: the core is optional)
    usual_time = parse_time


def _parse_whole_seconds(stamp: str) -> int | None:
    ms = _parse_full(stamp + "Z")
    if ms is None:
        return None
    if len(_WHOLE_SECONDS) >= _CACHE_LIMIT:
        _WHOLE_SECONDS.clear()
    _WHOLE_SECONDS[stamp] = ms
    return ms


def _parse_full(value: str) -> int | None:
    if not _RFC_3339.fullmatch(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_time(ms: int) -> str:
    """RFC 3339 in UTC with millisecond precision, as findings and alerts carry it."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
