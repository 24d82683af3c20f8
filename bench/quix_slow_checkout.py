"""Quix Streams running the `slow_checkout` rule: the peer framework `bench/peer` compares with.

The rule as docs/detectors.md defines it, with its defaults: a `page_load` whose `page` starts
with `/checkout` and whose `duration_ms` is over 4000 is a finding, at most one per session per
1800 s of event time (state per key in Quix's RocksDB store, changelogged as ours is). The input
is keyed by session, as `friction simulate` keys it, so the state key is the message key; with
`--group-by` the stream is re-keyed by session first (a repartition topic), as a producer keyed
otherwise would need. `--batches` reads a topic of batch messages (JSON arrays of events),
expanded to one row per event. Unlike `friction worker` it checks nothing else of the contract.
Run as `python bench/quix_slow_checkout.py BOOTSTRAP TOPIC GROUP STATE_DIR FINDINGS
COMMIT_INTERVAL_S [--group-by] [--batches]`.
"""

from __future__ import annotations

import sys
from datetime import datetime

from quixstreams import Application, State

PAGE_PREFIX = "/checkout"
THRESHOLD_MS = 4000
PERIOD_MS = 1800 * 1000


def event_time(event: dict) -> int:
    value = event["time"]
    if isinstance(value, str):
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    return int(value)


def is_checkout_load(event: dict) -> bool:
    if event.get("type") != "page_load":
        return False
    page = (event.get("attrs") or {}).get("page")
    return isinstance(page, str) and page.startswith(PAGE_PREFIX)


def slow_load(event: dict, state: State) -> dict | None:
    """The finding of a slow checkout load, unless the session had one within the period."""
    attrs = event["attrs"]
    duration_ms = attrs["duration_ms"]
    if duration_ms <= THRESHOLD_MS:
        return None
    now = event_time(event)
    last = state.get("last_finding")
    if last is not None and now - last < PERIOD_MS:
        return None
    state.set("last_finding", now)
    return {
        "detector": "slow_checkout",
        "kind": "slow_load",
        "time": now,
        "session_id": event.get("session_id"),
        "evidence": {"duration_ms": duration_ms, "page": attrs["page"]},
    }


def session(event: dict) -> str:
    return event.get("session_id") or event.get("user_id") or event["event_id"]


def main() -> int:
    bootstrap, topic, group, state_dir, findings, commit_interval_s = sys.argv[1:7]
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        # A checkpoint every 1000 messages and at the benchmark's commit interval, so the last
        # one is committed as it is processed and the benchmark's clock (the group's commits)
        # stops on time.
        commit_every=1000,
        commit_interval=float(commit_interval_s),
    )
    sdf = app.dataframe(app.topic(topic, key_deserializer="str", value_deserializer="json"))
    if "--batches" in sys.argv[7:]:  # a topic of batch messages: one row per event
        sdf = sdf.apply(lambda events: events, expand=True)
    if "--group-by" in sys.argv[7:]:
        sdf = sdf.group_by(session, name="session")
    sdf = sdf.filter(is_checkout_load)
    sdf = sdf.apply(slow_load, stateful=True).filter(lambda finding: finding is not None)
    sdf.to_topic(app.topic(findings, value_serializer="json"))
    print("quix: running", flush=True)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
