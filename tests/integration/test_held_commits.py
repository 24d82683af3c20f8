"""A routed message whose item still waits is not committed, and a killed worker's successor
reads it again: the changelog does not hold waiting events (streams/worker/held_messages.py).

A slow checkout waits for the watermark, which no other input moves (lateness 0; the
progress timer and idle input set to 10 minutes). Its routed partition's commit must stay at
its message while it waits. The worker is killed then: the item is in no state record, only in
the routed topic, so the successor finds the slow checkout only by reading that message again
once later events on every input partition move the watermark past it; and after that the
partition's commit reaches its end. While it waits, the worker's `friction_held_messages` says
so for its partition.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from friction_detector.streams.kafka.settings import WorkerSettings
from helpers_worker import Names, TopicReader, Worker, now_ms, produce
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from loopback import free_port
from test_progress_fanout import (
    NEVER_S,
    PARTITIONS,
    WITHIN_S,
    page_load,
    routed_partition,
    session_on,
    slow_checkout_only,
)

pytestmark = pytest.mark.kafka

COMMIT_INTERVAL_S = "0.5"
SESSION_TIMEOUT_S = 60
READY_AFTER_JOIN_S = 60


def committed(bootstrap: str, group: str, tp: TopicPartition) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    meta = offsets.get(tp)
    return -1 if meta is None else meta.offset


def end_offset(bootstrap: str, tp: TopicPartition) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return consumer.end_offsets([tp])[tp]
    finally:
        consumer.close()


def wait_until(what: str, check, timeout: float = WITHIN_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.25)


def test_a_waiting_item_holds_its_commit_and_a_killed_workers_successor_reads_it_again(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    names = Names("held")
    config = slow_checkout_only(tmp_path / "c.toml")
    log = tmp_path / "worker.log"
    quiet = ["--tick-interval-s", NEVER_S, "--idle-advance-s", NEVER_S,
             "--commit-interval-s", COMMIT_INTERVAL_S]  # fmt: skip
    first = Worker(kafka_bootstrap, config, names, log)
    port = free_port()
    first.args += [*quiet, "--metrics-port", str(port), "--metrics-addr", "127.0.0.1"]
    successor = Worker(kafka_bootstrap, config, names, log)
    successor.args += quiet
    settings = WorkerSettings(broker=f"kafka://{kafka_bootstrap}", app_id=names.app_id)
    reader = TopicReader(kafka_bootstrap, names.findings)
    try:
        first.start().wait_ready()
        t = now_ms()
        slow = "slow-session"
        routed = TopicPartition(settings.routed_topic, routed_partition(slow))
        event = page_load("slow", t, slow, "/checkout/payment", 9000)
        produce(kafka_bootstrap, names.input, [orjson.dumps(event)], [slow.encode()])

        wait_until("the slow checkout routed", lambda: end_offset(kafka_bootstrap, routed) > 0)
        end = end_offset(kafka_bootstrap, routed)
        time.sleep(4 * float(COMMIT_INTERVAL_S) + 1)  # commits come and go meanwhile
        assert committed(kafka_bootstrap, names.app_id, routed) < end  # held: it waits
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        held = f'friction_held_messages{{partition="{routed.partition}",topic="{routed.topic}"}}'
        assert f"{held} 1.0" in metrics, [m for m in metrics.splitlines() if "held_messages" in m]
        reader.poll(1.0)
        assert reader.records() == []

        first.kill()
        first.stop()
        successor.start()
        later = [
            page_load(f"later-{p}", t + 1, session_on(p, routed.partition, f"later{p}"), "/", 300)
            for p in range(PARTITIONS)
        ]
        keys = [e["session_id"].encode() for e in later]
        produce(kafka_bootstrap, names.input, [orjson.dumps(e) for e in later], keys)
        # The broker notices the killed member only after its session timeout.
        successor.wait_ready(timeout=SESSION_TIMEOUT_S + READY_AFTER_JOIN_S)

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not reader.records():
            reader.poll()
        found = reader.records()
        assert [(f["detector"], f["session_id"]) for f in found] == [("slow_checkout", slow)], (
            f"no finding:\n{successor.tail()}"
        )
        # Applied and its state written: the partition is committed to its end now.
        wait_until(
            "the routed partition committed to its end",
            lambda: (
                committed(kafka_bootstrap, names.app_id, routed)
                >= end_offset(kafka_bootstrap, routed)
            ),
        )
    finally:
        reader.close()
        first.stop()
        successor.stop()
