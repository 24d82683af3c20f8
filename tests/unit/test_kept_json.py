"""JSON bytes that are kept: orjson's bytes, in objects that do not hold on to its buffers."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from friction_detector.detectors.events import Event
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


# Each keeper in a fresh interpreter: a heap that an earlier test grew and freed would take
# 50,000 pinned buffers without growing, and hide them.
KEEPERS = {
    "kept_json.dumps": """
from friction_detector.streams.kept_json import dumps as keep
def make(n): return f"rage_click\\x1fs-{n:012d}"
""",
    "changelog keys": """
from friction_detector.streams.worker.faust_internals import changelog_json as keep
def make(n): return f"rage_click\\x1fs-{n:012d}"
""",
    # Where the core is not built; the core writes each item's bytes itself, at their size.
    "routed items": """
from friction_detector.detectors.events import Event
from friction_detector.streams.worker.routing import encode_item
def make(n):
    return Event(event_id=f"e{n}", type="page_load", time=n, user_id="u", session_id=f"s{n}",
                 attrs={"page": "/checkout/payment", "duration_ms": 9000})
def keep(event): return encode_item("slow_checkout", event.session_id, event)
""",
}

MEASURE = """
import os
from pathlib import Path
{keeper}
def resident():
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
made = [make(n) for n in range(50_000)]
before = resident()
kept = [keep(one) for one in made]
assert all(kept)
print(resident() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc")
@pytest.mark.parametrize("keeper", KEEPERS)
def test_kept_documents_cost_their_size_not_a_page_each(keeper: str) -> None:
    """50,000 short documents kept, as the worker keeps a batch's: about their own size
    (orjson's own output would hold about a page each, 200 MB here, as the module says)."""
    script = MEASURE.format(keeper=KEEPERS[keeper])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    grown = int(done.stdout)
    assert grown < 40 * 1024 * 1024, f"{grown / 2**20:.0f} MB for 50,000 short documents"


def test_the_worker_writes_the_same_bytes_as_before() -> None:
    """Changelog records and routed items are the bytes orjson wrote for them before."""
    assert changelog_json("slow_checkout\x1fs-1") == b'"slow_checkout\\u001fs-1"'
    assert changelog_json({1: "a"}) == b'{"1":"a"}'  # a key that is not text, as Faust's codec
    event = Event(
        time=1, event_id="e1", type="ui.click", user_id="u", session_id="s", attrs={"x": 1}
    )
    assert encode_item("rage_click", "s", event) == orjson.dumps(
        ["rage_click", "s", 1, "e1", "ui.click", "u", "s", {"x": 1}]
    )
