"""The worker's log lines, for a person or a log collector.

Faust (through mode) sets up the root logger; the worker then gives its handlers one of two
formats: `text` (mode's line, coloured only on a terminal) or `json` (one object per line:
time, level, logger, message, and the exception's traceback if any). And a normal start is
not an error: aiokafka logs an ERROR while the broker is still choosing the group's
coordinator, which it always does for a new group, and retries; that line becomes INFO.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson
from mode.utils.logging import DEFAULT_FORMAT, DefaultFormatter

LOG_FORMATS = ("text", "json")
COORDINATOR_LOGGER = "aiokafka.consumer.group_coordinator"
_COORDINATOR_LOOKUP_FAILED = "Group Coordinator Request failed: %s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry).decode()


class CoordinatorNotYetAvailable(logging.Filter):
    """aiokafka's ERROR "Group Coordinator Request failed: GroupCoordinatorNotAvailableError",
    logged at every start while the broker loads the group's coordinator, as INFO.

    aiokafka retries it by itself; any other coordinator error keeps its level.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.levelno == logging.ERROR
            and record.msg == _COORDINATOR_LOOKUP_FAILED
            and isinstance(record.args, tuple)
            and record.args
            and "CoordinatorNotAvailable" in type(record.args[0]).__name__
        ):
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True


def use_log_format(root: logging.Logger, log_format: str) -> None:
    """Give the root logger's stream handlers `log_format`; colours only on a terminal."""
    for handler in root.handlers:
        if not isinstance(handler, logging.StreamHandler):
            continue
        if log_format == "json":
            handler.setFormatter(JsonFormatter())
        elif not _is_terminal(handler):
            handler.setFormatter(DefaultFormatter(DEFAULT_FORMAT))


def demote_normal_start_errors() -> None:
    """Install the filters that make a normal start log no ERROR (idempotent)."""
    logger = logging.getLogger(COORDINATOR_LOGGER)
    if not any(isinstance(f, CoordinatorNotYetAvailable) for f in logger.filters):
        logger.addFilter(CoordinatorNotYetAvailable())


def as_log_line(message: str, log_format: str, logger: str) -> str:
    """`message`, printed outside logging (before it is set up), in `log_format`."""
    if log_format != "json":
        return message
    record = logging.makeLogRecord(
        {"name": logger, "levelno": logging.INFO, "levelname": "INFO", "msg": message}
    )
    return JsonFormatter().format(record)


def _is_terminal(handler: logging.StreamHandler) -> bool:
    try:
        return bool(handler.stream.isatty())
    except (AttributeError, ValueError):
        return False
