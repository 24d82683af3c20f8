"""The compiled core's records as plain data are engine.py's, given out and taken back up.

A worker writes after each batch every record the batch changed, as engine.py's plain data. Run
over the same stream in batches, engine.py writes back (its store not a dict, as the worker's)
and the tracking core gives out its changes (`take_changed`); after every batch both must name
the same keys with the same records, or None for the same forgotten keys. After a restart the
worker takes its records up again: engine.py by `restore`, the core by `load_plain`, from the
same stored records (through JSON, as a changelog keeps them); from there on both must again
give the same everything.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, MutableMapping

import orjson
import pytest
from friction_detector.detectors.compiled import compiled, load_plain, tracking_engine
from friction_detector.detectors.engine import SOURCES_KEY, Engine
from friction_detector.detectors.events import BadInput, Event
from test_compiled_engine import LATENESS_MS, CallLog, decoded_corpus, every_builtin_detector

pytestmark = pytest.mark.skipif(not compiled(), reason="the compiled core is not built")

SOURCES = [f"clicks:{i}" for i in range(3)]


class WrittenBack(MutableMapping):
    """engine.py's store that leaves the process: the records written since `take_written`."""

    def __init__(self) -> None:
        self.records: dict[str, dict] = {}
        self.written: dict[str, dict | None] = {}

    def __getitem__(self, skey: str) -> dict:
        return self.records[skey]

    def __setitem__(self, skey: str, record: dict) -> None:
        self.records[skey] = record
        self.written[skey] = record

    def __delitem__(self, skey: str) -> None:
        del self.records[skey]
        self.written[skey] = None

    def __iter__(self) -> Iterator[str]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def take_written(self) -> dict[str, dict | None]:
        written, self.written = self.written, {}
        written.pop(SOURCES_KEY, None)  # the sources' progress is the worker's, not a key's
        return written


def source_of(event: Event) -> str:
    routing_key = (event.session_id or event.user_id or "").encode()
    return SOURCES[zlib.crc32(routing_key) % len(SOURCES)]


def batches_of_changes(events: list[Event], batch: int) -> Iterator[tuple[dict, dict, list]]:
    """Per batch of `batch` events: engine.py's written records, the core's changed records,
    and the findings of both (engine.py's, the core's)."""
    store = WrittenBack()
    reference = Engine(every_builtin_detector(), allowed_lateness_ms=LATENESS_MS, store=store)
    core = tracking_engine(every_builtin_detector(), allowed_lateness_ms=LATENESS_MS)
    for engine in (reference, core):
        engine.expect_sources(SOURCES)
    for first in range(0, len(events), batch):
        found: list[list] = [[], []]
        for event in events[first : first + batch]:
            found[0] += reference.process_from(source_of(event), event)
            found[1] += core.process_from(source_of(event), event)
        changed = dict(core.take_changed())
        yield store.take_written(), changed, found


@pytest.mark.parametrize("batch", [1, 7, 250])
def test_after_every_batch_the_core_gives_out_the_records_engine_py_writes_back(
    batch: int,
) -> None:
    events = decoded_corpus()
    assert not any(isinstance(event, BadInput) for event in events)
    written_in_all, forgotten, with_outcomes = 0, 0, 0
    for written, changed, (expected, got) in batches_of_changes(events, batch):
        assert [f.to_dict() for f in got] == [f.to_dict() for f in expected]
        assert changed.keys() == written.keys()
        assert changed == written
        written_in_all += len(written)
        forgotten += sum(record is None for record in written.values())
        with_outcomes += sum(bool(record and ("o" in record or "j" in record))
                             for record in written.values())  # fmt: skip
    # The corpus reaches every part of a record compared: otherwise the equality proves little.
    assert written_in_all > 1000
    assert forgotten > 0
    assert with_outcomes > 0


def test_an_engine_made_without_tracking_refuses_to_give_out_changes() -> None:
    from friction_detector.detectors.compiled import replay_engine

    engine = replay_engine(every_builtin_detector())
    with pytest.raises(RuntimeError, match="track_changes"):
        engine.take_changed()  # type: ignore[union-attr]


@pytest.mark.parametrize("restart_at", [0.25, 0.5, 0.8])
def test_records_taken_up_after_a_restart_go_on_as_engine_py_restored_from_them(
    restart_at: float,
) -> None:
    events = decoded_corpus()
    cut = int(len(events) * restart_at)
    before = WrittenBack()
    first = Engine(every_builtin_detector(), allowed_lateness_ms=LATENESS_MS, store=before)
    first.expect_sources(SOURCES)
    for event in events[:cut]:
        first.process_from(source_of(event), event)
    kept = orjson.loads(orjson.dumps(before.records))  # as a changelog gives them back
    assert any(record["p"] for skey, record in kept.items() if skey != SOURCES_KEY)

    store, reference_log, core_log = WrittenBack(), CallLog(), CallLog()
    store.records = orjson.loads(orjson.dumps(kept))
    reference = Engine(
        every_builtin_detector(), allowed_lateness_ms=LATENESS_MS, store=store,
        observer=reference_log,
    )  # fmt: skip
    reference.restore()
    core = tracking_engine(
        every_builtin_detector(), allowed_lateness_ms=LATENESS_MS, observer=core_log
    )
    stored = orjson.loads(orjson.dumps(kept))
    load_plain(core, stored.items(), stored.get(SOURCES_KEY, {}))
    assert core.state_keys() == reference.state_keys()
    assert core_log.sizes == reference_log.sizes

    found: list[list] = [[], []]
    for n, event in enumerate(events[cut:], 1):
        found[0] += reference.process_from(source_of(event), event)
        found[1] += core.process_from(source_of(event), event)
        if n % 97 == 0:
            assert dict(core.take_changed()) == store.take_written()
    found[0] += reference.finish()
    found[1] += core.finish()
    assert [f.to_dict() for f in found[1]] == [f.to_dict() for f in found[0]]
    assert found[0]
    assert core.take_outcomes() == reference.take_outcomes()
    assert core_log.calls == reference_log.calls
    assert core.deadlines_ahead() == reference.deadlines_ahead()


def test_records_load_only_into_an_engine_that_has_held_none() -> None:
    core = tracking_engine(every_builtin_detector(), allowed_lateness_ms=LATENESS_MS)
    for event in decoded_corpus():
        core.process_from(source_of(event), event)
        if sum(core.state_keys().values()):
            break
    with pytest.raises(RuntimeError, match="held none"):
        load_plain(core, [], {})
