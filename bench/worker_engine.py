"""Detection as the worker runs it, with no broker: what bounds the worker's rate.

The worker's stages keep their state in Kafka: its engine writes each record a batch changed to
the partition's store, which the changelog sends. This runs stage 2's engine over the events of
a file in batches of the worker's size (`INPUT_BATCH_MAX`, stage 1's batches on a backlog): each
event routed as stage 1 routes it and queued, the watermark moved by the batch's last event, the
batch's findings taken, and each record the batch changed serialized once, as the worker's
changelog does. No Kafka, no Faust, no metrics: the most a worker process can reach, however
cheap its Kafka handling. By default
on engine.py (every key's record plain data, written back as it changes: the worker where the
compiled core is not built); with `--core` on the compiled core over the same store
(detectors/stored_core.py: its changed records' bytes written by the core once per batch), the
worker's engine where the core is built. Run as `python bench/worker_engine.py EVENTS_FILE
[--core]`; prints one JSON line: events/s and CPU seconds from the first event decoded to the
last batch's records serialized.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, MutableMapping

import orjson
from friction_detector.detectors.config import load_config
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.events import BadInput
from friction_detector.detectors.stored_core import StoredCoreEngine
from friction_detector.streams.worker.faust_internals import changelog_json
from friction_detector.streams.worker.gc_policy import use_worker_thresholds
from friction_detector.streams.worker.input_reader import INPUT_BATCH_MAX


class ChangedRecords(MutableMapping):
    """A store that keeps the records and the keys changed since the last `take_changed`;
    serialized as the worker's changelog serializes them (the core writes their bytes)."""

    serializer = staticmethod(changelog_json)

    def __init__(self) -> None:
        self.records: dict[str, dict] = {}
        self.changed: dict[str, dict | None] = {}

    def __getitem__(self, skey: str) -> dict:
        return self.records[skey]

    def get(self, skey: str, default=None):
        return self.records.get(skey, default)

    def __setitem__(self, skey: str, record: dict) -> None:
        self.records[skey] = record
        self.changed[skey] = record

    def __delitem__(self, skey: str) -> None:
        del self.records[skey]
        self.changed[skey] = None

    def __iter__(self) -> Iterator[str]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def take_changed(self) -> dict[str, dict | None]:
        changed, self.changed = self.changed, {}
        return changed


def run(path: str, core: bool) -> tuple[int, float, float]:
    config = load_config(None)
    decode = config.decoder().decode
    with open(path, "rb") as file:
        lines = file.readlines()
    settings = config.engine
    store = ChangedRecords()
    make = StoredCoreEngine if core else Engine
    engine = make(
        config.detectors,
        allowed_lateness_ms=settings.allowed_lateness_ms,
        dedup_horizon_ms=settings.dedup_horizon_ms,
        store=store,
    )
    router = Engine(config.detectors)  # stage 1's routing; holds no state
    events = 0
    use_worker_thresholds()  # the worker's cycle collector
    started, cpu = time.perf_counter(), time.process_time()
    for first in range(0, len(lines), INPUT_BATCH_MAX):
        reached = None
        for line in lines[first : first + INPUT_BATCH_MAX]:
            event = decode(line)
            if isinstance(event, BadInput):
                continue
            engine.take(event, router.routes(event))
            reached = event.time
            events += 1
        if reached is not None:
            engine.advance_sources({"input:0": reached})
        engine.take_findings()
        engine.take_outcomes()
        if isinstance(engine, StoredCoreEngine):  # engine.py wrote each change as it made it
            engine.write_changes()
        for skey, record in store.take_changed().items():
            changelog_json(skey)
            if record is not None and type(record) is not bytes:  # the core's are serialized
                changelog_json(record)
    return events, time.perf_counter() - started, time.process_time() - cpu


if __name__ == "__main__":
    n, seconds, cpu_s = run(sys.argv[1], "--core" in sys.argv[2:])
    print(orjson.dumps({"rate": n / seconds, "cpu_s": cpu_s, "events": n}).decode())
