"""When an idle worker holds its ticks: unread input, or a count that failed; logged once."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest
from kafka.errors import KafkaConnectionError

from streams.app import FrictionApp


class _Counts:
    """Stands in for InputBacklog: answers each `unread()` from a script, or raises."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)

    def unread(self) -> int:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _holds(counts: _Counts, times: int) -> list[bool]:
    worker = SimpleNamespace(input_backlog=counts, ticks_held=False)

    async def ask() -> list[bool]:
        return [await FrictionApp._group_has_unread_input(worker) for _ in range(times)]

    return asyncio.run(ask())


def test_ticks_are_held_while_input_is_unread_and_resume_once_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="streams.app")
    assert _holds(_Counts(0, 12, 3, 0, 0), 5) == [False, True, True, False, False]
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "idle ticks held: 12 input messages not yet read by the group",
        "idle ticks resumed: the group has read all input",
    ]


@pytest.mark.parametrize("error", [KafkaConnectionError("broker gone"), KeyError("p0")])
def test_a_count_that_fails_holds_the_ticks_and_is_logged_once(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    assert _holds(_Counts(error, error, 0), 3) == [True, True, False]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert repr(error) in warnings[0].getMessage()
