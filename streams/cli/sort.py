"""`friction replay --sort`: a file's lines in event-time order, within bounded memory.

An external sort: runs of at most `run_lines` lines are sorted in memory and written to
temporary files, then merged with `heapq.merge`, so a file of any size costs `run_lines` lines
of memory. Ties keep their input order. A line whose event time cannot be read (not JSON, no
valid `time`, longer than the limit, or with `sourced` not a sourced line) is not the sort's
business: such lines come first (the too long ones, then the others, each in input order), so
the decoder dead-letters them with their reason as it would without `--sort`. Their dead-letter
position is then their line number in that order, not in the file. A batch message (a JSON array
of events, docs/events.md) is sorted event by event: each element becomes a line of its own.
"""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import orjson
from friction_detector.detectors.events import BadInput
from friction_detector.detectors.timefmt import parse_time
from friction_detector.streams import kept_json
from friction_detector.streams.cli.lines import LongLine, bounded_lines
from friction_detector.streams.event_batches import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, is_batch
from friction_detector.streams.sources import read_sourced

DEFAULT_RUN_LINES = 100_000


def event_time(line: bytes, sourced: bool = False) -> int | None:
    """The event time of a line, or None when the decoder would refuse it anyway."""
    if sourced:
        read = read_sourced(line)
        if isinstance(read, BadInput):
            return None
        line = read[1]
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return parse_time(doc.get("time")) if type(doc) is dict else None


def batch_elements(line: bytes, sourced: bool = False) -> list[bytes]:
    """A batch message's events as lines of their own (a sourced line's keep its source), or
    the line alone: anything else, or a batch the decoder would refuse as a whole."""
    doc = None
    message = line
    if sourced:
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            return [line]
        if type(doc) is not dict or type(doc.get("value")) is not str:
            return [line]
        message = doc["value"].encode()
    if not is_batch(message) or len(message) > MAX_BATCH_BYTES:
        return [line]
    try:
        elements = orjson.loads(message)
    except orjson.JSONDecodeError:
        return [line]
    if not elements or len(elements) > MAX_BATCH_EVENTS:
        return [line]
    if doc is None:  # lines kept until their run is written: `kept_json`
        return [kept_json.dumps(element) for element in elements]
    return [
        kept_json.dumps({**doc, "value": orjson.dumps(element).decode()}) for element in elements
    ]


def sorted_lines(
    source: BinaryIO,
    limit: int,
    run_lines: int = DEFAULT_RUN_LINES,
    sourced: bool = False,
) -> Iterator[bytes | LongLine]:
    """The lines of `source` as `bounded_lines` gives them: unsortable ones first, in input
    order, then the others by event time. Temporary files live until the iterator ends."""
    if run_lines < 1:
        raise ValueError("run_lines must be at least 1")
    with tempfile.TemporaryDirectory(prefix="friction-sort-") as directory:
        folder = Path(directory)
        runs: list[Path] = []
        run: list[tuple[int, int, bytes]] = []
        # Lines too long to read whole (`size sha256 head` each) and other unsortable lines.
        with open(folder / "long", "w+b") as long, open(folder / "unsortable", "w+b") as passed:
            for index, item in enumerate(bounded_lines(source, limit)):
                if isinstance(item, LongLine):
                    long.write(b"%d %s %s\n" % (item.size, item.sha256.encode(), item.head))
                    continue
                for line in batch_elements(item.rstrip(b"\r\n"), sourced):
                    time_ms = event_time(line, sourced) if line.strip() else None
                    if time_ms is None:
                        passed.write(line + b"\n")
                        continue
                    run.append((time_ms, index, line))
                    if len(run) >= run_lines:
                        runs.append(_write_run(folder, len(runs), run))
                        run = []
            if run:
                runs.append(_write_run(folder, len(runs), run))
                run = []
            long.seek(0)
            for record in long:
                size, sha256, head = record[:-1].split(b" ", 2)
                yield LongLine(head, int(size), sha256.decode())
            passed.seek(0)
            yield from passed
        files = [open(path, "rb") for path in runs]  # noqa: SIM115 - closed below
        try:
            for _, _, line in heapq.merge(*(map(_parse, f) for f in files)):
                yield line
        finally:
            for f in files:
                f.close()


def _write_run(folder: Path, number: int, run: list[tuple[int, int, bytes]]) -> Path:
    """One sorted run: `time index line` per line, what the merge reads back."""
    run.sort()
    path = folder / f"run-{number:06d}"
    with open(path, "wb") as out:
        for time_ms, index, line in run:
            out.write(b"%d %d %s\n" % (time_ms, index, line))
    return path


def _parse(record: bytes) -> tuple[int, int, bytes]:
    time_ms, index, line = record.split(b" ", 2)
    return int(time_ms), int(index), line
