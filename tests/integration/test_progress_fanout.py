"""A batch's progress reaches routed partitions that got no items from it, without the timer.

The routed partition holding a slow checkout hears, with its item, only the progress of the
input partition it came from. The events that move every other input partition past it route
elsewhere (or nowhere). Its finding must come from those batches' progress, not from the
progress-report timer (set to 10 minutes here) nor from idle input (also 10 minutes).
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from friction_detector.detectors.engine import store_key
from friction_detector.detectors.registry import installed_detectors
from friction_detector.streams.kafka.topics import partition_for
from helpers_worker import Names, TopicReader, Worker, now_ms, produce

pytestmark = pytest.mark.kafka

PARTITIONS = 4  # the worker's default, for the input topic it creates and the routed topic
NEVER_S = "600"  # the timer's interval and the idle delay: the test ends long before
WITHIN_S = 30


def slow_checkout_only(path: Path) -> Path:
    lines = ["[engine]", "allowed_lateness_ms = 0", ""]
    for name in installed_detectors():
        if name != "slow_checkout":
            lines += [f"[detectors.{name}]", "enabled = false", ""]
    path.write_text("\n".join(lines))
    return path


def routed_partition(session: str) -> int:
    return partition_for(store_key("slow_checkout", session).encode(), PARTITIONS)


def session_on(input_partition: int, avoid: int, tag: str) -> str:
    """A session whose events go to `input_partition` and whose items avoid routed `avoid`."""
    n = 0
    while True:
        session = f"{tag}-{n}"
        if (
            partition_for(session.encode(), PARTITIONS) == input_partition
            and routed_partition(session) != avoid
        ):
            return session
        n += 1


def page_load(event_id: str, time_ms: int, session: str, page: str, duration_ms: int) -> dict:
    return {
        "event_id": event_id, "type": "page_load", "time": time_ms, "session_id": session,
        "attrs": {"page": page, "duration_ms": duration_ms},
    }  # fmt: skip


def test_a_finding_is_released_by_the_progress_of_batches_that_route_elsewhere(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    names = Names("fanout")
    worker = Worker(kafka_bootstrap, slow_checkout_only(tmp_path / "c.toml"), names,
                    tmp_path / "worker.log")  # fmt: skip
    worker.args += ["--tick-interval-s", NEVER_S, "--idle-advance-s", NEVER_S]
    worker.start()
    reader = TopicReader(kafka_bootstrap, names.findings)
    try:
        worker.wait_ready()
        t = now_ms()
        slow = "slow-session"
        held = routed_partition(slow)
        # Alone first: its routed message tells its partition only its own input partition.
        event = page_load("slow", t, slow, "/checkout/payment", 9000)
        produce(kafka_bootstrap, names.input, [orjson.dumps(event)], [slow.encode()])
        time.sleep(2)
        # Then every input partition passes it, with items for other routed partitions only.
        later = [
            page_load(f"later-{p}", t + 1, session_on(p, held, f"later{p}"), "/", 300)
            for p in range(PARTITIONS)
        ]
        keys = [e["session_id"].encode() for e in later]
        produce(kafka_bootstrap, names.input, [orjson.dumps(e) for e in later], keys)
        sent = time.monotonic()
        deadline = sent + WITHIN_S
        while time.monotonic() < deadline and not reader.records():
            reader.poll()
        found = reader.records()
        assert [(f["detector"], f["session_id"]) for f in found] == [("slow_checkout", slow)], (
            f"no finding within {WITHIN_S} s:\n{worker.tail()}"
        )
        assert worker.alive()
    finally:
        reader.close()
        worker.stop()
