"""The worker's engine on the compiled core leaves its store as engine.py leaves its own.

`StoredCoreEngine` writes its changed records once per batch (`write_changes`) where engine.py
writes each as it changes it; after every batch both stores must hold the same records, the
input sources' progress included. A partition taken up again from such a store (`restore`),
with a key dropped and a source forgotten on the way, must go on giving engine.py's findings.
A store with a `serializer` (the worker's partition store) gets the records' bytes written by
the core, and is restored from them as the memory store keeps them.
"""

from __future__ import annotations

import orjson
import pytest
from friction_detector.detectors.compiled import compiled
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.stored_core import StoredCoreEngine
from friction_detector.streams.worker.faust_internals import changelog_json
from test_compiled_engine import LATENESS_MS, decoded_corpus, every_builtin_detector
from test_core_changes import SOURCES, WrittenBack, source_of

pytestmark = pytest.mark.skipif(not compiled(), reason="the compiled core is not built")

HORIZON_MS = 15 * 60_000
SOURCES_KEY = "~sources/3"


class SerializingStore(WrittenBack):
    """A store that serializes its records as the worker's changelog does: the core writes
    their bytes."""

    serializer = staticmethod(changelog_json)


def as_plain(records: dict) -> dict:
    return {skey: orjson.loads(record) if isinstance(record, bytes) else record
            for skey, record in records.items()}  # fmt: skip


def engines(store_a: WrittenBack, store_b: WrittenBack) -> tuple[Engine, StoredCoreEngine]:
    settings = dict(allowed_lateness_ms=LATENESS_MS, dedup_horizon_ms=HORIZON_MS,
                    sources_key=SOURCES_KEY)  # fmt: skip
    reference = Engine(every_builtin_detector(), store=store_a, **settings)  # type: ignore[arg-type]
    core = StoredCoreEngine(every_builtin_detector(), store=store_b, **settings)  # type: ignore[arg-type]
    return reference, core


def feed(engines_: tuple, events: list, batch: int) -> tuple[list, list]:
    """Both engines over `events` as the worker's stage 2 takes them: routed items, then the
    batch's progress; each batch's changes written."""
    found: tuple[list, list] = ([], [])
    for first in range(0, len(events), batch):
        progress: dict[str, int] = {}
        for event in events[first : first + batch]:
            for engine in engines_:
                engine.take(event, engine_routes(engine, event))
            source = source_of(event)
            progress[source] = max(progress.get(source, event.time), event.time)
        for engine, out in zip(engines_, found, strict=True):
            out += engine.advance_sources(progress)
            out += engine.take_findings()
            if isinstance(engine, StoredCoreEngine):  # engine.py wrote each change as made
                engine.write_changes()
        assert as_plain(engines_[1].store.records) == engines_[0].store.records
    return found


def engine_routes(engine, event) -> list:
    router = Engine(list(engine.detectors.values()))
    return router.routes(event)


@pytest.mark.parametrize("store_type", [WrittenBack, SerializingStore])
def test_the_core_leaves_its_store_as_engine_py_and_goes_on_as_it_after_a_restore(
    store_type: type[WrittenBack],
) -> None:
    events = decoded_corpus()
    cut = len(events) // 2
    reference, core = engines(WrittenBack(), store_type())
    for engine in (reference, core):
        engine.expect_sources(SOURCES)
    found = feed((reference, core), events[:cut], 200)
    assert [f.to_dict() for f in found[1]] == [f.to_dict() for f in found[0]]
    assert SOURCES_KEY in core.store.records
    serialized = sum(isinstance(record, bytes) for record in core.store.records.values())
    assert serialized == (0 if store_type is WrittenBack else len(core.store.records) - 1)

    # A restart: both take up the same stored records (through JSON, as a changelog keeps them).
    kept = orjson.dumps(reference.store.records)
    store_a, store_b = WrittenBack(), store_type()
    store_a.records = orjson.loads(kept)
    serialize = store_type is SerializingStore
    store_b.records = {skey: changelog_json(record) if serialize and skey != SOURCES_KEY else record
                       for skey, record in orjson.loads(kept).items()}  # fmt: skip
    reference, core = engines(store_a, store_b)
    for engine in (reference, core):
        engine.restore()
        engine.forget_sources(lambda source: source != SOURCES[2])
        dropped = next(skey for skey in engine.store.records if skey.startswith("rage_click/"))
        engine.drop(dropped)
    core.write_changes()
    assert as_plain(core.store.records) == reference.store.records
    assert core.state_keys() == reference.state_keys()
    found = feed((reference, core), events[cut:], 200)
    assert found[0]
    assert [f.to_dict() for f in found[1]] == [f.to_dict() for f in found[0]]
    assert core.take_outcomes() == reference.take_outcomes()
