"""Sourced lines: a Kafka message with where it came from, as `friction tail --with-source`
writes them and `friction replay --sourced` reads them.

One line: `{"topic": ..., "partition": ..., "offset": ..., "value": "<the message as text>"}`.
Knowing each event's partition lets replay follow the slowest partition in event time, as the
worker does (detectors/engine.py `advance_sources`), so a dump read partition by partition
finds what the live stream found.
"""

from __future__ import annotations

import orjson
from friction_detector.detectors.events import MISSING_FIELD, NOT_OBJECT, BadInput


def input_source(topic: str, partition: int) -> str:
    """The name of an input partition in progress reports and sourced replay (Kafka topic
    names have no colon)."""
    return f"{topic}:{partition}"


def source_topic(source: str) -> str:
    return source.rsplit(":", 1)[0]


def sourced_line(topic: str, partition: int, offset: int, value: bytes | None) -> bytes:
    """A message as a sourced line; bytes that are not UTF-8 are kept as backslash escapes."""
    text = (value or b"").decode("utf-8", errors="backslashreplace")
    return orjson.dumps({"topic": topic, "partition": partition, "offset": offset, "value": text})


def read_sourced(line: bytes) -> tuple[str, bytes] | BadInput:
    """The input source (`topic:partition`) and message of a sourced line, or why it is not one."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        doc = None
    if type(doc) is not dict:
        return BadInput(NOT_OBJECT, "a sourced line must be a JSON object", line)
    topic, partition, value = doc.get("topic"), doc.get("partition"), doc.get("value")
    if type(topic) is not str or type(partition) is not int or type(value) is not str:
        return BadInput(
            MISSING_FIELD, "a sourced line needs topic (string), partition (integer) and value "
            "(string)", line,
        )  # fmt: skip
    return input_source(topic, partition), value.encode()
