"""The worker with its state in RocksDB (`--store rocksdb://`): the same findings as replay,
across a restart that reopens the local database."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from helpers_worker import (
    FINDINGS_TIMEOUT_S,
    LATENESS_MS,
    Names,
    TopicReader,
    Worker,
    assert_replay_findings,
    compact_events,
    now_ms,
    produce_events,
    replay_findings,
    write_config,
)

pytestmark = pytest.mark.kafka


def test_a_rocksdb_worker_restarts_on_its_local_state_and_finds_what_replay_finds(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "friction.toml", LATENESS_MS)
    names = Names("rocksdb")
    log = tmp_path / "worker.log"
    first = Worker(kafka_bootstrap, config, names, log)
    first.args += ["--store", "rocksdb://"]
    second = Worker(kafka_bootstrap, config, names, log)
    second.args += ["--store", "rocksdb://"]
    reader = TopicReader(kafka_bootstrap, names.findings)
    try:
        first.start().wait_ready()
        rng = random.Random(5)
        before = compact_events(rng, 300, now_ms())
        produce_events(kafka_bootstrap, names.input, before)
        reader.wait_for(set(replay_findings(config, before, LATENESS_MS)), FINDINGS_TIMEOUT_S)
        first.stop()
        data = log.parent / f"{log.stem}-data"
        assert list(data.rglob("CURRENT")), "no RocksDB database under the data folder"

        second.start().wait_ready()
        after = compact_events(rng, 300, now_ms())
        produce_events(kafka_bootstrap, names.input, after)
        assert_replay_findings(reader, config, before + after, LATENESS_MS, FINDINGS_TIMEOUT_S)
    finally:
        reader.close()
        first.stop()
        second.stop()
