"""A backlog read one input partition at a time is not late: stage 2's watermark waits until
every input partition has reported progress.

aiokafka hands out one partition's fetch of a backlog before the next one's, and stage 1's
progress names only the partitions it has read. An engine that followed the partitions it had
heard of would move its watermark past the events of those not yet read, and take them all as
late (applied at once, out of order). Run on the worker's own stages, no broker."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord
from friction_detector.detectors.config import build_config
from friction_detector.streams.devkit.simulate import Traffic
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.kafka.topics import partition_for
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.sources import input_source
from friction_detector.streams.worker.app import FrictionApp

TOPIC = "clicks"
PARTITIONS = 4
EVENTS = 12_000
FETCH = 1500  # records of one partition handed out before the next one's
BATCH = 1000  # stage 1's batch
SOURCES = [input_source(TOPIC, p) for p in range(PARTITIONS)]
START_MS = int(time.time() * 1000) - 3_600_000  # an hour ago: the same events in every test


def backlog(fetch: int) -> list[ConsumerRecord]:
    """Simulated traffic keyed by session over the input partitions, read `fetch` records of
    one partition before the next one's."""
    traffic = Traffic(random.Random(7), incident_rate=0.05)
    t = START_MS
    while len(traffic.heap) < EVENTS * 1.3:
        traffic.start_scenario(t)
        t += 40
    partitions: list[list[tuple[bytes, bytes]]] = [[] for _ in range(PARTITIONS)]
    for _, _, event in sorted(traffic.heap)[:EVENTS]:
        key = (event.get("session_id") or event.get("user_id") or event["event_id"]).encode()
        partitions[partition_for(key, PARTITIONS)].append((key, orjson.dumps(event)))
    read = []
    for first in range(0, max(len(p) for p in partitions), fetch):
        for partition, messages in enumerate(partitions):
            for offset, (key, value) in enumerate(messages[first : first + fetch], first):
                read.append(ConsumerRecord(TOPIC, partition, offset, 0, 0, key, value, None,
                                           len(key), len(value), ()))  # fmt: skip
    return read


def detect(records: list[ConsumerRecord], input_sources: list[str], tmp_path) -> tuple:
    """Both stages of one worker over `records` in batches: its late events and findings."""
    settings = WorkerSettings(app_id="app-backlog", data_dir=str(tmp_path), input_topics=[TOPIC])
    metrics = FrictionMetrics({"click"})
    friction = FrictionApp(settings, build_config({}), metrics, input_sources)
    stage, detection = friction.route_stage, friction.detection
    found: list[str] = []

    async def send(topic: str, key: Any, value: bytes, partition: int, *_: Any) -> Any:
        if topic == settings.routed_topic:
            engine = detection.get(partition).engine
            _, progress = engine.take_message(value)
            emitted = engine.advance_sources(progress) + engine.take_findings()
            found.extend(finding.finding_id for finding in emitted)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def run() -> None:
        for first in range(0, len(records), BATCH):
            for record in records[first : first + BATCH]:
                stage.handle([record])
            await stage.publish(send)

    asyncio.run(run())
    late = metrics.registry.get_sample_value("friction_late_events_total")
    return late, sorted(found)


def test_a_backlog_read_a_partition_at_a_time_finds_what_an_even_read_finds(tmp_path) -> None:
    late, found = detect(backlog(FETCH), SOURCES, tmp_path / "a")
    even_late, even_found = detect(backlog(50), SOURCES, tmp_path / "b")
    assert late == even_late == 0
    assert found == even_found
    assert len(found) > 10


def test_without_waiting_for_every_partition_its_events_come_late(tmp_path) -> None:
    """Why the worker names its input partitions: the watermark ran ahead of the backlog."""
    late, _ = detect(backlog(FETCH), [], tmp_path)
    assert late > EVENTS / 20
