"""`friction replay --sourced`: a dump read partition by partition finds what the live stream
found, because event time follows the slowest partition, as in the worker."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from friction_detector.detectors.testing import at
from friction_detector.streams.cli.main import main
from friction_detector.streams.sources import read_sourced, sourced_line

T0 = at("2026-11-22T10:00:00Z")
SECOND = 1000


def chat(event_id: str, offset_s: int, conversation: str, author: str | None = None) -> bytes:
    attrs = {"conversation_id": conversation}
    if author is not None:
        attrs["author"] = author
    kind = "chat_started" if author is None else "chat_message"
    return orjson.dumps(
        {"event_id": event_id, "type": kind, "time": T0 + offset_s * SECOND, "attrs": attrs}
    )


# Partition 0 holds a chat an agent answered after 5 s; partition 1 holds chats half an hour
# later. A dump lists partition 1 first: followed by the newest event, the reply would be late.
PARTITION_0 = [chat("a", 0, "c-0"), chat("b", 5, "c-0", author="agent")]
PARTITION_1 = [chat(f"l{n}", 2000 + n, f"c-{n + 1}") for n in range(3)]
SOURCED_DUMP = [sourced_line("events", 1, n, value) for n, value in enumerate(PARTITION_1)] + [
    sourced_line("events", 0, n, value) for n, value in enumerate(PARTITION_0)
]


def replay_file(tmp_path: Path, name: str, lines: list[bytes], *options: str) -> list[dict]:
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    findings = tmp_path / f"{name}.findings"
    code = main(["replay", str(path), "--findings", str(findings), "--dead-letter",
                 str(tmp_path / f"{name}.dead"), *options])  # fmt: skip
    assert code == 0
    return [orjson.loads(line) for line in findings.read_bytes().splitlines()]


def unanswered(findings: list[dict]) -> list[str]:
    return [f["subject"]["conversation_id"] for f in findings if f["kind"] == "unanswered"]


def test_a_dump_read_partition_by_partition_is_replayed_as_the_live_stream_saw_it(
    tmp_path: Path,
) -> None:
    plain = replay_file(tmp_path, "plain.jsonl", PARTITION_1 + PARTITION_0)
    sourced = replay_file(tmp_path, "dump.jsonl", SOURCED_DUMP, "--sourced")

    assert "c-0" in unanswered(plain)  # the control: newest-event time made the reply late
    assert "c-0" not in unanswered(sourced)


def test_a_line_that_is_not_sourced_is_dead_lettered_with_its_reason(tmp_path: Path) -> None:
    replay_file(tmp_path, "mixed.jsonl", [*SOURCED_DUMP, chat("x", 1, "c-9")], "--sourced")

    letters = [orjson.loads(line) for line in (tmp_path / "mixed.jsonl.dead").read_bytes()
               .splitlines()]  # fmt: skip
    assert [letter["reason"] for letter in letters] == ["missing_field"]


@pytest.mark.parametrize("value", [b'{"event_id":"e"}', b"\xff not utf-8", b""])
def test_a_sourced_line_keeps_its_partition_and_utf8_message(value: bytes) -> None:
    source, message = read_sourced(sourced_line("friction-events", 3, 17, value))
    assert source == "friction-events:3"
    assert message == value.decode("utf-8", errors="backslashreplace").encode()
