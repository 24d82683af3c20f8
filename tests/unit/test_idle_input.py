"""Stage 1's progress per input partition: published only with its routed items, idle only when
quiet and fully read by the group, and the hold on unread input logged once; a batch tells the
routed partitions without items its progress where that moves their slowest input."""

from __future__ import annotations

import asyncio
import logging

import pytest
from friction_detector.streams.worker.progress import HeardProgress, InputProgress
from friction_detector.streams.worker.progress_reports import ProgressReports
from kafka import TopicPartition
from kafka.errors import KafkaConnectionError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_batch_reports_its_progress_and_publishes_it_only_once_sent() -> None:
    progress = InputProgress(idle_after_s=5)
    progress.saw("in:0", 1_000)
    progress.saw("in:0", 900)  # out of order within the partition: progress stays
    progress.saw("in:1", None)  # bad input moves no event time

    assert progress.for_batch() == {"in:0": 1_000}
    assert progress.report() is None  # nothing published yet: a report would run ahead
    progress.batch_published()
    assert progress.report() == {"in:0": 1_000}
    assert progress.report() is None  # unchanged since the last report


def test_a_quiet_partition_becomes_idle_and_follows_the_wall_clock() -> None:
    clock = Clock()
    progress = InputProgress(idle_after_s=5, monotonic=clock)
    progress.assigned(["in:0", "in:1"])
    progress.saw("in:0", 1_000)
    progress.batch_published()
    clock.now += 4
    progress.saw("in:1", 2_000)
    progress.batch_published()
    clock.now += 1

    assert progress.quiet() == ["in:0"]
    progress.idle(["in:0", "in:1"], wall_ms=50_000)  # in:1 had input: not idle
    assert progress.published == {"in:0": 50_000, "in:1": 2_000}


def test_a_lost_partition_is_its_new_owners_to_report() -> None:
    progress = InputProgress(idle_after_s=5)
    progress.assigned(["in:0", "in:1"])
    progress.saw("in:1", 7)
    progress.batch_published()
    progress.assigned(["in:0"])
    assert progress.published == {}
    assert progress.quiet() == []  # in:0's idle clock started at its assignment


class _Counts:
    """Stands in for InputBacklog: answers each count from a script, or raises."""

    def __init__(self, *answers: dict | Exception) -> None:
        self.answers = list(answers)

    def unread_by_partition(self) -> dict:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return {TopicPartition("in", p): n for p, n in answer.items()}


def _idle(counts: _Counts, times: int) -> list[list[str]]:
    reports = ProgressReports(InputProgress(5.0), counts, ["in"], 4)  # type: ignore[arg-type]

    async def ask() -> list[list[str]]:
        quiet = ["in:0", "in:1"]
        return [await reports.without_unread_input(quiet) for _ in range(times)]

    return asyncio.run(ask())


def test_quiet_partitions_with_unread_input_are_held_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="friction_detector.streams.worker.progress_reports")
    answers = [{0: 0, 1: 0}, {0: 12, 1: 0}, {0: 3, 1: 0}, {0: 0, 1: 0}]
    assert _idle(_Counts(*answers), 4) == [["in:0", "in:1"], ["in:1"], ["in:1"], ["in:0", "in:1"]]
    assert [r.getMessage() for r in caplog.records] == [
        "idle input held: in:0 has 12 messages not yet read",
        "idle input resumed: the group has read all input of in:0",
    ]


@pytest.mark.parametrize("error", [KafkaConnectionError("broker gone"), KeyError("p0")])
def test_a_count_that_fails_holds_every_quiet_partition_and_is_logged_once(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    assert _idle(_Counts(error, error, {0: 0, 1: 0}), 3) == [[], [], ["in:0", "in:1"]]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert repr(error) in warnings[0].getMessage()


def test_a_batch_tells_a_routed_partition_without_items_only_what_moves_its_slowest_input():
    heard = HeardProgress(partitions=3)
    # Nothing heard yet: every partition not sent items waits on this worker's inputs.
    assert heard.waiting({"in:0": 10, "in:1": 10}, sent=[0]) == [1, 2]
    heard.told([0, 1, 2], {"in:0": 10, "in:1": 10})
    # in:0 moves, in:1 is still the slowest: no engine's watermark can move.
    assert heard.waiting({"in:0": 20, "in:1": 10}) == []
    heard.told([0], {"in:0": 20, "in:1": 10})  # partition 0 got items with it
    # in:1 moves: the slowest rises from 10 to 20 at partitions 0 and 1 (2 got items).
    assert heard.waiting({"in:0": 20, "in:1": 30}, sent=[2]) == [0, 1]
    assert heard.waiting({}, sent=[]) == []  # a batch of bad input only moves nothing


def test_a_progress_that_went_back_moves_nothing():
    """A source re-assigned to this worker starts below what a partition heard of it."""
    heard = HeardProgress(partitions=1)
    heard.told([0], {"in:0": 50, "in:1": 50})
    assert heard.waiting({"in:0": 40, "in:1": 50}) == []
    assert heard.waiting({"in:0": 40, "in:1": 60}) == []  # in:0 is still heard at 50
    assert heard.waiting({"in:0": 60, "in:1": 60}) == [0]
