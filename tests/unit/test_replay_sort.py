"""`friction replay --sort` orders a file by event time within bounded memory, and replay warns
when much of its input was behind the watermark."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

import orjson
import pytest
from friction_detector.detectors.testing import at
from friction_detector.streams.cli.lines import LongLine
from friction_detector.streams.cli.main import main
from friction_detector.streams.cli.sort import batch_elements, sorted_lines
from friction_detector.streams.devkit.scenarios import INCIDENTS, MINUTE, clock_event
from friction_detector.streams.sources import sourced_line

T0 = at("2026-11-22T10:00:00Z")


def incidents() -> list[bytes]:
    """Friction incidents of every built-in detector over an hour, in event-time order, and a
    last event an hour later that passes their deadlines."""
    rng = random.Random(7)
    events = []
    for n in range(40):
        for inject in INCIDENTS.values():
            events += inject(T0 + n * 90_000 + rng.randrange(MINUTE), rng)
    events.append(clock_event(T0 + 120 * MINUTE, rng))
    events.sort(key=lambda e: e["time"])
    return [orjson.dumps(e) for e in events]


def write(tmp_path: Path, name: str, lines: list[bytes]) -> Path:
    path = tmp_path / name
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def replay(tmp_path: Path, path: Path, *options: str) -> list[dict]:
    findings = tmp_path / f"{path.stem}.findings.jsonl"
    dead = tmp_path / f"{path.stem}.dead.jsonl"
    code = main(
        ["replay", str(path), "--findings", str(findings), "--dead-letter", str(dead), *options]
    )
    assert code == 0
    return sorted(
        (orjson.loads(line) for line in findings.read_bytes().splitlines()),
        key=lambda f: f["finding_id"],
    )


def shuffled(lines: list[bytes]) -> list[bytes]:
    lines = list(lines)
    random.Random(3).shuffle(lines)
    return lines


def test_a_shuffled_file_replayed_with_sort_gives_the_findings_of_the_sorted_file(tmp_path):
    lines = incidents()
    assert len(lines) > 4 * 100
    expected = replay(tmp_path, write(tmp_path, "sorted.jsonl", lines))
    assert expected

    mixed = write(tmp_path, "shuffled.jsonl", shuffled(lines))
    assert replay(tmp_path, mixed) != expected  # without --sort, lateness changes them
    assert replay(tmp_path, mixed, "--sort", "--sort-run-lines", "100") == expected


def test_batch_lines_are_sorted_event_by_event(tmp_path):
    """A dump of batch messages (what `friction send` writes by default) replays with --sort as
    the same events one per line."""
    lines = incidents()
    expected = replay(tmp_path, write(tmp_path, "sorted.jsonl", lines))
    mixed = shuffled(lines)
    batches = [b"[" + b",".join(mixed[i : i + 25]) + b"]" for i in range(0, len(mixed), 25)]
    batched = write(tmp_path, "batched.jsonl", batches)
    assert replay(tmp_path, batched, "--sort", "--sort-run-lines", "100") == expected


def test_sorting_merges_runs_smaller_than_the_file_into_event_time_order():
    lines = incidents()
    source = io.BytesIO(b"".join(line + b"\n" for line in shuffled(lines)))
    out = list(sorted_lines(source, limit=65536, run_lines=7))
    assert [orjson.loads(line)["time"] for line in out] == sorted(
        orjson.loads(line)["time"] for line in lines
    )


def test_lines_that_are_not_events_come_first_and_are_still_dead_lettered(tmp_path):
    lines = incidents()[:50]
    bad = [b"{not json", b'{"type": "page_load", "time": "yesterday"}', b"x" * 70_000]
    path = write(tmp_path, "bad.jsonl", shuffled(lines) + bad)
    source = io.BytesIO(path.read_bytes())
    out = list(sorted_lines(source, limit=65536, run_lines=10))
    assert out[0] == LongLine(b"x" * 65536, 70_000, hashlib.sha256(b"x" * 70_000).hexdigest())
    assert out[1:3] == [b"{not json\n", b'{"type": "page_load", "time": "yesterday"}\n']

    replay(tmp_path, path, "--sort", "--sort-run-lines", "10")
    reasons = [
        orjson.loads(line)["reason"]
        for line in (tmp_path / "bad.dead.jsonl").read_bytes().splitlines()
    ]
    assert sorted(reasons) == sorted(["too_large", "invalid_json", "missing_field"])


def test_replay_warns_when_much_of_the_input_was_late(tmp_path, capsys):
    replay(tmp_path, write(tmp_path, "shuffled.jsonl", shuffled(incidents())))
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert "behind the watermark" in warnings[0]
    assert "--sourced" in warnings[0] and "--sort" in warnings[0]


@pytest.mark.parametrize("options", [(), ("--sort",)], ids=["sorted file", "sorted by replay"])
def test_replay_does_not_warn_about_ordered_input(tmp_path, capsys, options):
    lines = incidents() if not options else shuffled(incidents())
    replay(tmp_path, write(tmp_path, "input.jsonl", lines), *options)
    assert "warning" not in capsys.readouterr().err


def test_a_sourced_batch_line_becomes_sourced_lines_of_its_events():
    line = sourced_line("events", 3, 17, b'[{"time": 1}, {"time": 2}]')
    parts = [orjson.loads(part) for part in batch_elements(line, sourced=True)]
    assert [(p["topic"], p["partition"], p["offset"], orjson.loads(p["value"])) for p in parts] == [
        ("events", 3, 17, {"time": 1}),
        ("events", 3, 17, {"time": 2}),
    ]
    assert batch_elements(b'{"time": 1}') == [b'{"time": 1}']
    assert batch_elements(b"[]") == [b"[]"]  # refused whole by the decoder, as without --sort
