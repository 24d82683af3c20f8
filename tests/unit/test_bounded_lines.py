"""Reading JSON Lines with a bound: short lines as they are, long ones skipped by length."""

from __future__ import annotations

import hashlib
import io

from friction_detector.streams.cli import lines
from friction_detector.streams.cli.lines import LongLine, bounded_lines


def read(data: bytes, limit: int) -> list:
    return list(bounded_lines(io.BytesIO(data), limit))


def long(line: bytes, limit: int) -> LongLine:
    """What a line too long for `limit` comes out as: head, length and digest of the whole."""
    return LongLine(line[:limit], len(line), hashlib.sha256(line).hexdigest())


def test_lines_within_the_limit_come_out_as_a_file_gives_them():
    data = b'{"a": 1}\n\n{"b": 2}\r\nlast'
    assert read(data, 8) == list(io.BytesIO(data))


def test_a_line_of_exactly_the_limit_with_crlf_is_whole():
    assert read(b"abcde\r\nxy\n", 5) == [b"abcde\r\n", b"xy\n"]


def test_a_longer_line_gives_its_head_and_length_and_the_next_line_follows():
    data = b"ok\n" + b"x" * 100 + b"\r\nafter\n"
    assert read(data, 10) == [b"ok\n", long(b"x" * 100, 10), b"after\n"]


def test_a_line_one_byte_over_the_limit_is_long():
    assert read(b"abcdef\n", 5) == [long(b"abcdef", 5)]
    assert read(b"abcdef", 5) == [long(b"abcdef", 5)]
    assert read(b"abcdef\r\n", 5) == [long(b"abcdef", 5)]


def test_a_long_line_is_measured_across_chunks_with_a_split_crlf(monkeypatch):
    monkeypatch.setattr(lines, "SKIP_CHUNK_BYTES", 4)
    data = b"y" * 11 + b"Y\r\nz\n"  # head yyyyy, then chunks yyyy, yyY\r, \n
    assert read(data, 3) == [long(b"y" * 11 + b"Y", 3), b"z\n"]


def test_a_carriage_return_inside_a_long_line_is_part_of_it(monkeypatch):
    monkeypatch.setattr(lines, "SKIP_CHUNK_BYTES", 4)
    data = b"ab\rcdefgh\r\rij\n"
    assert read(data, 3) == [long(b"ab\rcdefgh\r\rij", 3)]


def test_a_long_line_is_read_in_chunks_not_whole():
    class Recording(io.BytesIO):
        biggest = 0

        def readline(self, size=-1):
            line = super().readline(size)
            Recording.biggest = max(Recording.biggest, len(line))
            return line

    source = Recording(b"q" * 5_000_000 + b"\nend\n")
    assert list(bounded_lines(source, 1000)) == [long(b"q" * 5_000_000, 1000), b"end\n"]
    assert Recording.biggest <= lines.SKIP_CHUNK_BYTES
