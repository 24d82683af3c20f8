"""The compiled core's reading of the usual event times agrees with timefmt.py's `parse_time`.

`usual_time` answers ints and `YYYY-MM-DDTHH:MM:SS.mmmZ` stamps itself and leaves every other
value to `parse_time` (None); wherever it answers, the answer must be `parse_time`'s.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from friction_detector.detectors.compiled import compiled
from friction_detector.detectors.timefmt import parse_time, usual_time
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.skipif(not compiled(), reason="the compiled core is not built")

moments = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999000)
)
separators = st.sampled_from("Tt ")
# Near misses of the usual form: each character may be swapped for another that can appear.
stamp_chars = st.sampled_from("0123456789-:.TtZz +x\u0660")


def usual_stamp(moment: datetime, separator: str) -> str:
    """`moment` (naive: UTC) as `YYYY-MM-DDTHH:MM:SS.mmmZ` (strftime's %Y drops a year's
    leading zeros)."""
    m = moment
    date = f"{m.year:04d}-{m.month:02d}-{m.day:02d}"
    clock = f"{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond // 1000:03d}"
    return f"{date}{separator}{clock}Z"


@settings(max_examples=2000)
@given(moments, separators)
def test_every_usual_stamp_is_read_as_parse_time_reads_it(moment, separator):
    stamp = usual_stamp(moment, separator)
    assert usual_time(stamp) is not None
    assert usual_time(stamp) == parse_time(stamp)


@settings(max_examples=2000)
@given(moments, separators, st.data())
def test_a_stamp_with_one_character_changed_is_read_alike_or_left(moment, separator, data):
    stamp = list(usual_stamp(moment, separator))
    at = data.draw(st.integers(0, len(stamp) - 1))
    stamp[at] = data.draw(stamp_chars)
    text = "".join(stamp)
    assert usual_time(text) in (None, parse_time(text))


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-29T10:15:03.120Z",  # not a leap year
        "2024-02-30T10:15:03.120Z",
        "2026-04-31T10:15:03.120Z",
        "2026-13-01T10:15:03.120Z",
        "2026-00-10T10:15:03.120Z",
        "2026-11-00T10:15:03.120Z",
        "0000-01-01T00:00:00.000Z",
        "2026-11-22T24:00:00.000Z",
        "2026-11-22T23:60:00.000Z",
        "2026-11-22T23:59:60.000Z",  # no leap seconds in Python's datetime either
        "2026-11-22T10:15:03.12Z",
        "2026-11-22T10:15:03.1200Z",
        "2026-11-22T10:15:03.120z",  # valid, and parse_time's to read
        "2026-11-22T10:15:03.120+00:00",
        "\uff12026-11-22T10:15:03.120Z",
    ],
)
def test_what_the_core_does_not_read_is_left_to_parse_time(text):
    assert usual_time(text) is None


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1970-01-01T00:00:00.000Z", 0),
        ("2024-02-29T23:59:59.999Z", 1_709_251_199_999),
        ("0001-01-01T00:00:00.000Z", -62_135_596_800_000),
        ("9999-12-31T23:59:59.999Z", 253_402_300_799_999),
        ("1969-12-31 23:59:59.999Z", -1),
    ],
)
def test_edges_of_the_calendar_are_read_exactly(text, ms):
    assert usual_time(text) == ms == parse_time(text)


@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_ints_are_read_as_parse_time_reads_them(value):
    assert usual_time(value) in (None, parse_time(value))
    if parse_time(value) is not None:
        assert usual_time(value) == parse_time(value)


@pytest.mark.parametrize("value", [True, 1.5, None, b"2026-11-22T10:15:03.120Z", [], {}])
def test_other_types_are_left_to_parse_time(value):
    assert usual_time(value) is None


def test_a_moment_in_utc_is_its_epoch_milliseconds():
    moment = datetime(2026, 11, 22, 10, 15, 3, 120000, tzinfo=UTC)
    assert usual_time("2026-11-22T10:15:03.120Z") == int(moment.timestamp() * 1000)
