"""`friction replay`: the detection core over a JSON Lines file, in event time, in-process."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import BinaryIO

from friction_detector.detectors.alerts import Alert, AlertEngine, load_alert_settings
from friction_detector.detectors.compiled import compiled, replay_engine
from friction_detector.detectors.config import Config
from friction_detector.detectors.events import TOO_LARGE, BadInput, Event
from friction_detector.detectors.finding_events import FindingStage
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.observer import EngineObserver, FanOut
from friction_detector.detectors.outcomes import Outcome
from friction_detector.streams.cli.heap import keep_until_exit
from friction_detector.streams.cli.lines import LongLine, bounded_lines
from friction_detector.streams.cli.positions import InputPositions
from friction_detector.streams.cli.sort import sorted_lines
from friction_detector.streams.cli.summary import RunSummary
from friction_detector.streams.dead_letter import dead_letter_record
from friction_detector.streams.event_batches import (
    MAX_BATCH_BYTES,
    decode_message,
    element_position,
    is_batch,
)
from friction_detector.streams.sources import read_sourced

PROGRESS_EVERY_S = 2.0
# Lines between two looks at the clock (progress) and at the events held for dead letters.
_CHECK_EVERY_LINES = 1 << 10


class Progress:
    """A line on standard error every few seconds, so a long replay shows it is alive."""

    def __init__(self, source: BinaryIO, stream=sys.stderr) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.last = self.started
        try:
            self.total = os.fstat(source.fileno()).st_size if source.seekable() else 0
        except (OSError, ValueError):
            self.total = 0
        self.source = source

    def tick(self, lines: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        rate = lines / (now - self.started)
        done = ""
        if self.total:
            done = f", {100 * self.source.tell() / self.total:.0f}%"
        print(f"replay: {lines:,} lines ({rate:,.0f}/s{done})", file=self.stream, flush=True)


def line_limit(max_event_bytes: int, sourced: bool) -> int:
    """How long a line replay reads whole: an event, or a batch message of them (the decoder
    then judges each event's size); a sourced line's value is escaped, up to twice as long."""
    limit = max(max_event_bytes, MAX_BATCH_BYTES)
    return 2 * limit + 1024 if sourced else limit


def too_large(line: LongLine, max_bytes: int) -> BadInput:
    """The decoder's verdict on a line too long to read whole: its first bytes stand for it."""
    return BadInput(TOO_LARGE, f"message is {line.size} bytes, limit {max_bytes}", line.head)


def sources_of(source: BinaryIO, max_bytes: int) -> set[str]:
    """The partitions a file of sourced lines names; the file is left at its start."""
    sources = set()
    for line in bounded_lines(source, max_bytes):
        if not isinstance(line, LongLine):
            read = read_sourced(line)
            if not isinstance(read, BadInput):
                sources.add(read[0])
    source.seek(0)
    return sources


def replay(
    source: BinaryIO,
    config: Config,
    findings_out: BinaryIO,
    dead_letter_out: BinaryIO,
    source_name: str,
    summary: RunSummary | None = None,
    alert_sink: Callable[[Alert], None] | None = None,
    sourced: bool = False,
    sort_run_lines: int | None = None,
    on_findings: Callable[[list[Finding]], None] | None = None,
    outcomes_out: BinaryIO | None = None,
    on_outcomes: Callable[[list[Outcome]], None] | None = None,
) -> RunSummary:
    """Run every enabled detector over `source`; bad lines go to `dead_letter_out` with reasons.

    With `alert_sink`, the alert engine of `[alerts]` runs beside the detectors and hands each
    firing and resolved message to the sink as the watermark passes it. With `sourced`, each
    line is a sourced line (streams/sources.py) and event time follows the slowest partition,
    as in the worker; a file (not a pipe) is read twice, first for its partitions, so the
    watermark waits for every one of them. With `sort_run_lines`, the lines are first sorted
    by event time (streams/cli/sort.py), that many at most in memory. `on_findings` hears
    the findings as they are written (the webhook of a back-test). `outcomes_out` receives
    the outcomes of findings that interrupted a journey, as they are decided, and
    `on_outcomes` hears them (the webhook); without either they are only counted. Detectors
    over findings (`friction_accumulated`) read the findings as they are emitted and follow the
    engine's settled time; theirs are written among the others.
    """

    def dead_letter(
        bad: BadInput, position: int | str, whole: tuple[int, str] | None = None
    ) -> None:
        record = dead_letter_record(bad, source_name, position, whole=whole)
        dead_letter_out.write(record + b"\n")

    positions = InputPositions()
    summary = summary or RunSummary(dead_letter, positions.find)
    observer: EngineObserver = summary
    if alert_sink is not None:
        alerts = AlertEngine(load_alert_settings(config.sections.get("alerts")), sink=alert_sink)
        observer = FanOut(summary, alerts)
    engine = replay_engine(  # its records never leave the process
        config.detectors,
        allowed_lateness_ms=config.engine.allowed_lateness_ms,
        dedup_horizon_ms=config.engine.dedup_horizon_ms,
        observer=observer,
    )
    stage = None
    if config.finding_detectors:  # not fed to the alert engine: no alert rule reads them
        stage = FindingStage(
            config.finding_detectors,
            dedup_horizon_ms=config.engine.dedup_horizon_ms,
            observer=summary,
        )
    decoder = config.decoder()
    decode = decoder.decode
    process = engine.process
    write = findings_out.write
    take_outcomes = engine.take_outcomes

    def written(found: list[Finding]) -> None:
        for finding in found:
            write(finding.to_json() + b"\n")
        if on_findings is not None:
            on_findings(found)

    def emitted(found: list[Finding]) -> None:
        """Write the event detectors' findings; the detectors over findings take them."""
        written(found)
        if stage is not None:
            stage.take(found)

    def settle(accumulated: list[Finding]) -> None:
        if accumulated:
            written(accumulated)

    def write_outcomes(decided: list[Outcome]) -> None:
        if outcomes_out is not None:
            for outcome in decided:
                outcomes_out.write(outcome.to_json() + b"\n")
        if on_outcomes is not None:
            on_outcomes(decided)

    max_bytes = line_limit(config.engine.max_event_bytes, sourced)
    if sourced and source.seekable():
        engine.expect_sources(sources_of(source, max_bytes))
    progress = Progress(source)
    remember = positions.remember
    # The compiled core keeps its settled time at hand; engine.py reads its whole arrival queue
    # for it, so without the core the held events are looked at only once they crowd.
    settled_at_hand = compiled()
    lines = 0
    accepted = 0  # counted here, not by an observer call per event
    if sort_run_lines is None:
        items = bounded_lines(source, max_bytes)
    else:
        items = sorted_lines(source, max_bytes, sort_run_lines, sourced)
    for line in items:
        lines += 1
        if not lines % _CHECK_EVERY_LINES:
            progress.tick(lines)
            if settled_at_hand or positions.crowded():
                positions.forget_before(engine.settled())
            decided = take_outcomes()  # here, not per event: when they come out, not which
            if decided:
                write_outcomes(decided)
            if stage is not None:  # the detectors over findings follow the settled time
                accumulated = stage.follow(engine, lines)
                if accumulated:
                    written(accumulated)
        if isinstance(line, LongLine):
            summary.bad[TOO_LARGE] += 1
            dead_letter(too_large(line, max_bytes), lines, (line.size, line.sha256))
            continue
        # The line end stays on the usual line: JSON allows it, and taking it off copies every
        # line. A line that is bad, a batch or sourced is read without it, as it was sent.
        if line.isspace():  # as `line.strip()` would say, without a copy
            continue
        if sourced:
            read = read_sourced(line.rstrip(b"\r\n"))
            if isinstance(read, BadInput):
                summary.bad[read.reason] += 1
                dead_letter(read, lines)
                continue
            origin, line = read
        verdicts: Iterable[tuple[int | str, int | None, Event | BadInput]]
        # A batch message (docs/events.md): each element on its own; an object is no batch.
        if line[:1] != b"{" and is_batch(line):
            line = line.rstrip(b"\r\n")
            verdicts = [
                (element_position(str(lines), index), index, decoded)
                for index, decoded in decode_message(decoder, line)
            ]
        else:
            decoded = decode(line)
            if not isinstance(decoded, BadInput):  # the usual line, taken as the loop below would
                accepted += 1
                remember((decoded, lines, line, None))
                found = engine.process_from(origin, decoded) if sourced else process(decoded)
                if found:
                    emitted(found)
                continue
            line = line.rstrip(b"\r\n")
            verdicts = ((lines, None, decode(line)),)
        for position, index, decoded in verdicts:
            if isinstance(decoded, BadInput):
                summary.bad[decoded.reason] += 1
                dead_letter(decoded, position)
                continue
            accepted += 1
            remember((decoded, position, line, index))
            found = engine.process_from(origin, decoded) if sourced else process(decoded)
            if found:
                emitted(found)
    found = engine.finish()
    decided = take_outcomes()
    if decided:
        write_outcomes(decided)
    if found:
        emitted(found)
    if stage is not None:
        settle(stage.advance(engine.settled()))
        settle(stage.finish())
    summary.deadlines_ahead = engine.deadlines_ahead()
    summary.lines_read = lines
    summary.events += accepted
    summary.elapsed_s = time.monotonic() - progress.started
    keep_until_exit((engine, stage, positions))
    return summary
