"""Where the worker's CPU goes, step by step, with no broker: its stages' own steps timed alone.

A full run (`bench/peer`) gives one rate per peer, and on a shared machine its spread between
runs hides a change of a few percent. Here each step runs on the worker's own objects (a
`FrictionApp` built and never started) over bench/peer's events, split over its 4 input
partitions by key and read one partition's fetch at a time, as aiokafka hands out a backlog,
in stage 1's batches (`INPUT_BATCH_MAX`):

- stage 1: `RouteStage.handle` for each input partition's records in the batch (decode,
  validate, route, group), then the batch published to a send that only keeps the routed
  messages (`RouteStage.publish`);
  decoding and routing are also timed alone, on the same events;
- stage 2, on the routed messages stage 1 made, in their order: each message taken by the
  engine (`take_message`: read, its items queued), the watermark moved (detection, with the
  metrics' hooks; the core makes each item's Event as it applies it); then per batch, for
  each partition it touched: the findings written as the worker sends them, the changed
  records written by the engine (`write_changes`), sealed as changelog records
  (`PartitionStore.seal`), and kept in the table's store (`PartitionStore.keep`, what `write`
  does before it sends them).

What the worker spends per event beyond these is Kafka's and Faust's (fetching, producing,
acknowledging, the event loop). Prints µs of CPU per input event for each step, medians of
`--rounds`, and the routed items and state records per input event. Run as `bench/steps
[--events N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from itertools import groupby
from typing import Any

from aiokafka.structs import ConsumerRecord
from friction_detector.detectors.config import load_config
from friction_detector.detectors.engine import read_routed_message
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.kafka.topics import partition_for
from friction_detector.streams.observability.metrics import FrictionMetrics, alert_series
from friction_detector.streams.sources import input_source
from friction_detector.streams.worker.app import FrictionApp, changelog_topics
from friction_detector.streams.worker.gc_policy import use_worker_thresholds
from friction_detector.streams.worker.input_reader import INPUT_BATCH_MAX
from stream import generate

TOPIC = "peer-events"
PARTITIONS = 4
# Records of one partition aiokafka hands out before the next one's, on a backlog of
# bench/peer's events: a 1 MiB partition fetch (docs/worker.md, "The event loop, and what
# else was tried").
FETCH_RECORDS = 4900

Clock = Callable[[], float]
clock: Clock = time.process_time


def backlog(n: int) -> list[list[ConsumerRecord]]:
    """bench/peer's `n` events as stage 1 reads them: keyed into the input partitions, a fetch
    of each partition in turn, in batches of `INPUT_BATCH_MAX` records."""
    partitions: list[list[tuple[bytes, bytes]]] = [[] for _ in range(PARTITIONS)]
    for key, value in generate(n):
        partitions[partition_for(key, PARTITIONS)].append((key, value))
    order: list[ConsumerRecord] = []
    for first in range(0, max(len(p) for p in partitions), FETCH_RECORDS):
        for partition, messages in enumerate(partitions):
            for offset in range(first, min(first + FETCH_RECORDS, len(messages))):
                key, value = messages[offset]
                order.append(ConsumerRecord(TOPIC, partition, offset, 0, 0, key, value, None,
                                            len(key), len(value), ()))  # fmt: skip
    return [order[i : i + INPUT_BATCH_MAX] for i in range(0, len(order), INPUT_BATCH_MAX)]


def worker_objects() -> tuple[FrictionApp, Any]:
    """A worker's app as `friction worker` builds it with every detector, never started."""
    config = load_config(None)
    settings = WorkerSettings(
        app_id="bench-steps", data_dir=tempfile.mkdtemp(), input_topics=[TOPIC]
    )
    metrics = FrictionMetrics(  # as streams/worker/run.py makes them, served nowhere
        {t for d in config.detectors for t in d.consumes},
        detectors=config.enabled,
        alerts=alert_series(config),
        changelog_topics=changelog_topics(settings.app_id),
    )
    every_input_partition = [input_source(TOPIC, p) for p in range(PARTITIONS)]
    return FrictionApp(settings, config, metrics, every_input_partition), config


Spent = defaultdict[str, float]  # CPU seconds by step, in the order first timed


def run_once(batches: list[list[ConsumerRecord]]) -> tuple[Spent, Counter[str]]:
    """One pass over `batches` on fresh worker objects: CPU seconds by step, and counts."""
    friction, config = worker_objects()
    stage = friction.route_stage
    spent: Spent = defaultdict(float)
    counts: Counter[str] = Counter()
    routed_batches: list[list[tuple[int, bytes]]] = []

    async def stage_1() -> None:
        kept: list[tuple[int, bytes]] = []

        async def send(topic: str, key: Any, value: bytes, partition: int, *_: Any) -> Any:
            if topic == friction.settings.routed_topic:
                kept.append((partition, value))
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

        for batch in batches:
            started = clock()
            for _, records in groupby(batch, key=lambda record: record.partition):
                stage.handle(list(records))  # each partition's run, as aiokafka hands them out
            await stage.publish(send)
            spent["stage 1: handle and publish"] += clock() - started
            routed_batches.append(kept[:])
            kept.clear()

    asyncio.run(stage_1())
    decode, route = config.decoder().decode, stage.route
    started = clock()
    events = [decode(record.value) for batch in batches for record in batch]
    spent["  decode alone"] += clock() - started
    started = clock()
    for event in events:
        route(event)
    spent["  route alone"] += clock() - started
    counts["events"] = len(events)
    del events  # the worker holds a batch's decoded events only while it routes them

    detection, records = friction.detection, friction.records
    for messages in routed_batches:
        touched: dict[int, None] = {}
        found: list = []
        for partition, raw in messages:
            engine = detection.get(partition).engine
            started = clock()
            _, progress = engine.take_message(raw)
            taken = clock()
            if progress:
                found += engine.advance_sources(progress)
            found += engine.take_findings() + engine.take_outcomes()
            spent["stage 2: take routed message"] += taken - started
            spent["  detect (the watermark moved)"] += clock() - taken
            counts["routed items"] += len(read_routed_message(raw)[0])
            touched[partition] = None
        started = clock()
        for finding in found:
            records.finding(finding)
        spent["  findings written"] += clock() - started
        for partition in touched:
            owned = detection.get(partition)
            store = owned.store
            started = clock()
            owned.engine.write_changes()
            written = clock()
            sealed = store.seal()
            sealed_at = clock()
            store.keep(sealed)  # `PartitionStore.write` minus the send
            spent["  records written by the engine"] += written - started
            spent["  records sealed"] += sealed_at - written
            spent["  records kept in the store"] += clock() - sealed_at
            counts["state records"] += len(sealed.records)
            counts["deletions"] += sum(value is None for _, value in sealed.records)
    return spent, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    batches = backlog(args.events)
    use_worker_thresholds()  # the worker's cycle collector
    rounds = []
    for round_ in range(args.rounds):
        gc.collect()
        rounds.append(run_once(batches))
        print(f"round {round_ + 1}/{args.rounds} done", flush=True)
    events = rounds[0][1]["events"]
    print(f"\n{events:,} events (bench/peer's), {PARTITIONS} input partitions, batches of "
          f"{INPUT_BATCH_MAX:,}; µs of CPU per input event, medians of {args.rounds}")  # fmt: skip
    steps = list(rounds[0][0])
    stage_2 = [step for step in steps if not step.startswith("stage 1") and "alone" not in step]
    for step in steps:
        median = statistics.median(spent[step] for spent, _ in rounds)
        print(f"{step:34s} {median * 1e6 / events:6.2f}")
    total = statistics.median(sum(spent[s] for s in stage_2) for spent, _ in rounds)
    print(f"{'stage 2 in all':34s} {total * 1e6 / events:6.2f}")
    counts = rounds[0][1]
    print(f"per input event: {counts['routed items'] / events:.2f} routed items, "
          f"{counts['state records'] / events:.2f} state records "
          f"({counts['deletions'] / events:.2f} of them deletions)")  # fmt: skip


if __name__ == "__main__":
    main()
