"""Lines of a JSON Lines stream read with a bound, so one huge line never sits whole in memory.

`for line in file` reads a 400 MB line into one 400 MB bytes object before anyone can check
its size. `bounded_lines` reads at most `limit` bytes of a line; the rest of a longer line is
read in chunks and dropped, and the line comes out as a `LongLine` with its first bytes and its
length, for the caller to report.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

SKIP_CHUNK_BYTES = 1 << 20


class LongLine(NamedTuple):
    """A line longer than the limit: its first `limit` bytes, and the length and hex SHA-256 of
    the whole line (its line end left out), which identify it in a dead letter."""

    head: bytes
    size: int
    sha256: str


def bounded_lines(source: BinaryIO, limit: int) -> Iterator[bytes | LongLine]:
    """Each line as `for line in source` gives it (line end included), or a `LongLine`.

    A line up to `limit` bytes without its line end (`\\n` or `\\r\\n`) is read whole; a longer
    one holds at most `limit` + 2 bytes and a chunk of `SKIP_CHUNK_BYTES` in memory.
    """
    readline = source.readline
    # limit + 2 bytes hold any line of up to `limit` bytes with its `\r\n`.
    most = limit + 2
    while line := readline(most):
        if len(line) <= limit or (
            (len(line) < most or line[-1:] == b"\n") and len(line.rstrip(b"\r\n")) <= limit
        ):
            yield line
        else:
            yield _long_line(line, readline, limit)


def _long_line(head: bytes, readline, limit: int) -> LongLine:
    """Read the rest of a long line in chunks, keeping only its length and digest."""
    digest = hashlib.sha256()
    size = 0
    # The last two bytes read wait to be hashed until it is known whether they end the line.
    waiting = head
    while waiting[-1:] != b"\n" and (chunk := readline(SKIP_CHUNK_BYTES)):
        digest.update(waiting[:-2])
        size += max(0, len(waiting) - 2)
        waiting = waiting[-2:] + chunk
    if waiting.endswith(b"\r\n"):
        waiting = waiting[:-2]
    elif waiting.endswith(b"\n"):
        waiting = waiting[:-1]
    digest.update(waiting)
    return LongLine(head[:limit], size + len(waiting), digest.hexdigest())
