"""Log lines: JSON objects with time, level, logger, message and exception; the coordinator
lookup of a normal start is INFO, not ERROR."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
from aiokafka.errors import GroupAuthorizationFailedError, GroupCoordinatorNotAvailableError
from friction_detector.streams.observability.logs import (
    COORDINATOR_LOGGER,
    JsonFormatter,
    demote_normal_start_errors,
    use_log_format,
)


def record(message: str, *args, level: int = logging.WARNING, exc_info=None) -> logging.LogRecord:
    return logging.makeLogRecord(
        {"name": "friction.test", "levelno": level, "levelname": logging.getLevelName(level),
         "msg": message, "args": args, "exc_info": exc_info, "created": 1_795_305_600.25}
    )  # fmt: skip


def test_a_json_line_has_time_level_logger_and_message() -> None:
    line = JsonFormatter().format(record("idle input held: %s:%d", "events", 3))

    assert json.loads(line) == {
        "time": "2026-11-22T00:00:00.250+00:00",
        "level": "WARNING",
        "logger": "friction.test",
        "message": "idle input held: events:3",
    }
    assert "\n" not in line


def test_a_json_line_carries_the_exception_text_on_the_same_line() -> None:
    try:
        raise ValueError("bad batch")
    except ValueError:
        exc_info = sys.exc_info()
    line = JsonFormatter().format(record("batch failed", level=logging.ERROR, exc_info=exc_info))

    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("ValueError: bad batch")
    assert "\n" not in line


@pytest.fixture
def coordinator_log():
    """The coordinator's logger at `level`, writing to a buffer, with the worker's filter."""
    logger = logging.getLogger(COORDINATOR_LOGGER)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    saved = logger.level, logger.propagate, list(logger.filters)
    logger.propagate = False
    demote_normal_start_errors()

    def at(level: int) -> tuple[logging.Logger, io.StringIO]:
        logger.setLevel(level)
        return logger, out

    yield at
    logger.removeHandler(handler)
    logger.level, logger.propagate, logger.filters = saved[0], saved[1], saved[2]


def test_coordinator_not_available_at_start_is_info_not_error(coordinator_log) -> None:
    logger, out = coordinator_log(logging.INFO)
    logger.error("Group Coordinator Request failed: %s", GroupCoordinatorNotAvailableError())

    assert out.getvalue() == (
        "INFO Group Coordinator Request failed: [Error 15] GroupCoordinatorNotAvailableError\n"
    )


def test_coordinator_not_available_is_not_shown_at_warn(coordinator_log) -> None:
    logger, out = coordinator_log(logging.WARNING)
    logger.error("Group Coordinator Request failed: %s", GroupCoordinatorNotAvailableError())

    assert out.getvalue() == ""


def test_other_coordinator_errors_stay_errors(coordinator_log) -> None:
    logger, out = coordinator_log(logging.WARNING)
    logger.error("Group Coordinator Request failed: %s", GroupAuthorizationFailedError())

    assert out.getvalue().startswith("ERROR Group Coordinator Request failed:")


def test_text_logs_to_a_file_have_no_colours_and_json_replaces_the_format() -> None:
    root = logging.Logger("root-test")
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logging.Formatter("\x1b[31m%(message)s"))
    root.addHandler(handler)

    use_log_format(root, "text")
    text = handler.format(record("plain"))
    use_log_format(root, "json")

    assert "\x1b[" not in text and "plain" in text
    assert json.loads(handler.format(record("plain")))["message"] == "plain"
