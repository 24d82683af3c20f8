"""Failures of the Kafka clients, told in one line: what failed and why, the traceback only
when debugging. Shared by every command and the worker's start-up."""

from __future__ import annotations

import re
import sys
import traceback

MAX_REASON_CHARS = 300
_BROKER_MESSAGE = re.compile(r"""error_message=(?:'([^']+)'|"([^"]+)")""")


def report_failure(command: str, what: str, err: BaseException, debug: bool = False) -> None:
    """One line on standard error naming what failed and why; the traceback only when debugging."""
    print(f"friction {command}: {what}: {short_reason(err)}", file=sys.stderr, flush=True)
    if debug:
        traceback.print_exception(err)


def short_reason(err: BaseException) -> str:
    """The error in a readable line.

    kafka-python puts a whole request and response in some errors (kilobytes); the broker's own
    `error_message` in it is what a user needs.
    """
    text = " ".join(str(err).split()) or type(err).__name__
    if len(text) <= MAX_REASON_CHARS:
        return text
    found = _BROKER_MESSAGE.search(text)
    if found:
        return f"{type(err).__name__}: {found.group(1) or found.group(2)}"
    return text[:MAX_REASON_CHARS] + "..."
