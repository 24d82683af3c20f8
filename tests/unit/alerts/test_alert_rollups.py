"""Alerts from per-partition rollups merged in one place equal alerts from one whole engine."""

from __future__ import annotations

import orjson
from friction_detector.detectors.alerts import AlertEngine, load_alert_settings
from friction_detector.detectors.config import build_config
from friction_detector.detectors.engine import Engine, store_key
from friction_detector.detectors.events import Event
from friction_detector.streams.kafka.topics import partition_for
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.alerting import WorkerAlerting
from friction_detector.streams.worker.rollups import Rollup, RollupMerger
from test_alert_incident import day_of_events

PARTITIONS = 4


def contract_config():
    names = ["slow_checkout", "late_reset_email", "long_chat_wait", "repeated_form_submission"]
    return build_config({"detectors": {"enable": names}})


def decoded_day() -> list[Event]:
    decoder = contract_config().decoder()
    events = [decoder.from_object(doc) for doc in day_of_events()]
    return sorted(events, key=lambda event: event.time)


def alerts_of_one_engine(events: list[Event]) -> list[dict]:
    config = contract_config()
    alerts = AlertEngine(load_alert_settings(None))
    engine = Engine(config.detectors, observer=alerts)
    for event in events:
        engine.process(event)
    return [alert.to_dict() for alert in alerts.take_alerts()]


def rollup_messages(events: list[Event], drain_every: int) -> list[bytes]:
    """What the partitions' engines send to the rollups topic, in order."""
    config = contract_config()
    settings = load_alert_settings(None)
    messages = []
    rollups = [Rollup(p, settings.bucket_s * 1000) for p in range(PARTITIONS)]
    engines = [Engine(config.detectors, observer=rollups[p]) for p in range(PARTITIONS)]
    router = Engine(config.detectors)
    progress = {"events:0": 0}  # one input partition, as stage 1 reports it
    for n, event in enumerate(events):
        progress["events:0"] = max(progress["events:0"], event.time)
        for detector, key in router.routes(event):
            partition = partition_for(store_key(detector.name, key).encode(), PARTITIONS)
            engines[partition].take(event, ((detector, key),))
            engines[partition].advance_sources(progress)
        if n % drain_every == 0:
            for rollup in rollups:
                message = rollup.drain()
                if message is not None:
                    messages.append(message)
    return messages


def alerts_of_partitions(events: list[Event], drain_every: int) -> list[dict]:
    alerts = AlertEngine(load_alert_settings(None))
    merger = RollupMerger(alerts, PARTITIONS)
    for message in rollup_messages(events, drain_every):
        merger.add(message)
    return [alert.to_dict() for alert in alerts.take_alerts()]


def test_merged_partition_rollups_page_like_one_engine():
    events = decoded_day()
    whole = alerts_of_one_engine(events)
    assert [a["status"] for a in whole] == ["firing", "resolved"]
    assert alerts_of_partitions(events, drain_every=50) == whole


def test_an_alert_agent_resumed_from_an_older_commit_merges_each_rollup_once():
    """The agent stores its snapshot after each rollup but commits its offset every few
    seconds: after a crash it reads again rollups its stored snapshot already holds."""
    messages = rollup_messages(decoded_day(), drain_every=50)

    def agent() -> WorkerAlerting:
        return WorkerAlerting(contract_config(), FrictionMetrics(set()), PARTITIONS)

    uninterrupted = agent()
    paged = [a.to_dict() for n, m in enumerate(messages) for a in uninterrupted.merge(m, n)]
    crashed = agent()
    stored_until, committed = 2 * len(messages) // 3, len(messages) // 3
    paged_before = [a.to_dict() for n in range(stored_until) for a in crashed.merge(messages[n], n)]
    stored = orjson.dumps(crashed.snapshot())  # as the alert table keeps it
    resumed = agent()
    resumed.restore(orjson.loads(stored))
    paged_again = [a.to_dict() for n in range(committed, stored_until)
                   for a in resumed.merge(messages[n], n)]  # fmt: skip
    assert paged_again == [] and orjson.dumps(resumed.snapshot()) == stored
    paged_after = [a.to_dict() for n in range(stored_until, len(messages))
                   for a in resumed.merge(messages[n], n)]  # fmt: skip
    assert paged_before + paged_after == paged
    assert orjson.dumps(resumed.snapshot()) == orjson.dumps(uninterrupted.snapshot())


def test_a_rollups_topic_created_again_has_every_rollup_merged():
    """Its offsets start over: the offset the alert state keeps no longer says what it holds.
    Seen live (offsets go back without a restore) or at a restore (the topic ends before the
    kept offset), the rollups on the new topic are merged, none skipped."""
    messages = rollup_messages(decoded_day(), drain_every=50)
    half = len(messages) // 2

    def agent() -> WorkerAlerting:
        return WorkerAlerting(contract_config(), FrictionMetrics(set()), PARTITIONS)

    def counted(alerting: WorkerAlerting) -> bytes:  # the offsets of two topics differ
        return orjson.dumps({**alerting.snapshot(), "merged_offset": None})

    uninterrupted = agent()
    for offset, message in enumerate(messages):
        uninterrupted.merge(message, offset)
    live = agent()
    for offset, message in enumerate(messages[:half]):
        live.merge(message, offset)
    stored = orjson.dumps(live.snapshot())
    for offset, message in enumerate(messages[half:]):  # the new topic, from offset 0
        live.merge(message, offset)
    assert counted(live) == counted(uninterrupted)

    restarted = agent()
    restarted.restore(orjson.loads(stored), end_offset=10)  # written while it was down
    for offset, message in enumerate(messages[half:]):
        restarted.merge(message, offset)
    assert counted(restarted) == counted(uninterrupted)
