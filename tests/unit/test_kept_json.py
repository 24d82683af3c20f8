"""JSON bytes that are kept: orjson's bytes, in objects that do not hold on to its buffers."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import orjson
import pytest
from friction_detector.streams import kept_json
from friction_detector.streams.worker.faust_internals import changelog_json
from friction_detector.streams.worker.routing import encode_item

VALUES = [
    "rage_click\x1fs-66d272fdf202",
    'é ü \u2028 "quoted" back\\slash \t\n',
    {"b": [1, 2.5, None, True], "a": {"nested": "x"}},
    [],
    12345678901234567890,
]


@pytest.mark.parametrize("value", VALUES)
def test_the_bytes_are_orjsons(value) -> None:
    assert kept_json.dumps(value) == orjson.dumps(value)


def test_default_and_option_go_to_orjson() -> None:
    value = {1: datetime.datetime(2026, 12, 6, tzinfo=datetime.UTC), "set": {3}}
    option = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z
    assert kept_json.dumps(value, default=sorted, option=option) == orjson.dumps(
        value, default=sorted, option=option
    )
    with pytest.raises(orjson.JSONEncodeError):
        kept_json.dumps({"set": {3}})


def _resident_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc")
def test_kept_documents_cost_their_size_not_a_page_each() -> None:
    """50,000 short documents kept: about their own size (orjson's own output would hold
    about a page each, 200 MB here, as the module's docstring says)."""
    keys = [f"rage_click\x1fs-{n:012d}" for n in range(50_000)]
    before = _resident_bytes()
    kept = [kept_json.dumps(key) for key in keys]
    grown = _resident_bytes() - before
    assert len(kept) == len(keys)
    assert grown < 40 * 1024 * 1024, f"{grown / 2**20:.0f} MB for 50,000 short documents"


def test_the_worker_keeps_its_changelog_keys_and_routed_items_this_way() -> None:
    """The documents the worker keeps for a batch come from `kept_json` (the same bytes)."""
    assert changelog_json("slow_checkout\x1fs-1") == b'"slow_checkout\\u001fs-1"'
    assert changelog_json({1: "a"}) == b'{"1":"a"}'  # a key that is not text, as Faust's codec
    from friction_detector.detectors.events import Event

    event = Event(
        time=1, event_id="e1", type="ui.click", user_id="u", session_id="s", attrs={"x": 1}
    )
    assert encode_item("rage_click", "s", event) == orjson.dumps(
        ["rage_click", "s", 1, "e1", "ui.click", "u", "s", {"x": 1}]
    )
