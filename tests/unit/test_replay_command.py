"""`friction replay` end to end through the command line, on files and standard input."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys

import orjson
import pytest
from contract_stream import CONTRACT_DETECTORS, contract_only
from friction_detector.detectors.testing import at
from friction_detector.streams.cli.main import main

T0 = at("2026-11-22T10:00:00Z")
SECOND = 1000


def line(event_id: str, event_type: str, offset_ms: int, **attrs) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "type": event_type,
            "time": T0 + offset_ms,
            "user_id": "u-1",
            "session_id": "s-1",
            "attrs": attrs,
        }
    )


def lines(*items: bytes) -> bytes:
    return b"\n".join(items) + b"\n"


# A slow checkout, a late email, a missing email, two bad lines, a blank line, a redelivery, and
# a last event whose watermark passes the missing email's deadline.
STREAM = lines(
    line("e-1", "page_load", 0, page="/checkout/payment", duration_ms=5230),
    line("e-2", "password_reset_requested", 1 * SECOND, request_id="r-late"),
    line("e-3", "password_reset_requested", 2 * SECOND, request_id="r-missing"),
    b"{not json",
    b"",
    line("e-4", "email_delivered", 91 * SECOND, request_id="r-late"),
    line("e-4", "email_delivered", 91 * SECOND, request_id="r-late"),
    b'{"type": "page_load", "time": 1, "attrs": {}}',
    line("e-5", "page_view", 700 * SECOND),
)


@pytest.fixture
def config_path(tmp_path):
    """Only the contract's four detectors, whatever else is installed."""
    path = tmp_path / "friction.toml"
    sections = contract_only()["detectors"]
    path.write_text(
        "".join(f"[detectors.{name}]\nenabled = false\n\n" for name in sorted(sections))
    )
    return str(path)


def replay(config_path: str, *args: str) -> int:
    return main(["--config", config_path, "replay", *args])


def read_json_lines(path) -> list[dict]:
    return [orjson.loads(item) for item in path.read_bytes().splitlines()]


@pytest.fixture
def stream_file(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(STREAM)
    return path


def test_replay_exits_0_with_bad_lines_included(config_path, stream_file, tmp_path):
    code = replay(
        config_path,
        str(stream_file),
        "--findings",
        str(tmp_path / "f.jsonl"),
        "--dead-letter",
        str(tmp_path / "d.jsonl"),
    )
    assert code == 0


def test_replay_writes_findings_as_json_lines(config_path, stream_file, tmp_path):
    out = tmp_path / "findings.jsonl"
    replay(config_path, str(stream_file), "--findings", str(out), "--dead-letter", "-")
    findings = read_json_lines(out)
    assert [(f["detector"], f["kind"], f["subject"]) for f in findings] == [
        ("slow_checkout", "slow_load", {"session_id": "s-1"}),
        ("late_reset_email", "late", {"request_id": "r-late"}),
        ("late_reset_email", "missing", {"request_id": "r-missing"}),
    ]
    missing = findings[-1]
    assert missing["time"] == "2026-11-22T10:10:02.000Z"
    assert missing["severity"] == "critical"
    assert missing["user_id"] == "u-1"
    assert missing["evidence"]["missing_after_ms"] == 600_000
    assert len(missing["finding_id"]) == 32
    assert missing["summary"]


def test_replay_writes_bad_lines_with_reasons_to_the_dead_letter_file(
    config_path, stream_file, tmp_path
):
    dead = tmp_path / "dead.jsonl"
    replay(
        config_path, str(stream_file), "--findings", str(tmp_path / "f"), "--dead-letter", str(dead)
    )
    records = read_json_lines(dead)
    assert [(r["reason"], r["position"], r["raw"]) for r in records] == [
        ("invalid_json", 4, "{not json"),
        ("missing_field", 8, '{"type": "page_load", "time": 1, "attrs": {}}'),
    ]
    assert all(r["source"] == str(stream_file) and r["detail"] for r in records)


def test_replay_prints_a_summary_with_counts(config_path, stream_file, tmp_path, capsys):
    replay(
        config_path,
        str(stream_file),
        "--findings",
        str(tmp_path / "f"),
        "--dead-letter",
        str(tmp_path / "d"),
    )
    err = capsys.readouterr().err
    assert "lines read: 9 " in err
    assert "events accepted: 6" in err
    assert "bad lines: 2\n  invalid_json: 1\n  missing_field: 1\n" in err
    assert "duplicate deliveries dropped: 1\n  late_reset_email: 1\n" in err
    assert "late events (behind the watermark, still applied): 0" in err
    assert "findings: 3\n" in err
    assert "  late_reset_email late: 1\n  late_reset_email missing: 1\n" in err
    assert "  slow_checkout slow_load: 1" in err


def test_replay_writes_findings_to_standard_output_by_default(
    config_path, stream_file, tmp_path, capsysbinary
):
    replay(config_path, str(stream_file), "--dead-letter", str(tmp_path / "d"))
    out = capsysbinary.readouterr().out
    assert [orjson.loads(item)["kind"] for item in out.splitlines()] == [
        "slow_load",
        "late",
        "missing",
    ]


def test_replay_gives_the_same_findings_twice(config_path, stream_file, tmp_path):
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    for out in (first, second):
        replay(config_path, str(stream_file), "--findings", str(out), "--dead-letter", "-")
    assert first.read_bytes() == second.read_bytes()


def test_replay_reads_standard_input_for_dash(config_path, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(STREAM)))
    out = tmp_path / "findings.jsonl"
    code = replay(config_path, "-", "--findings", str(out), "--dead-letter", str(tmp_path / "d"))
    assert code == 0
    assert [f["kind"] for f in read_json_lines(out)] == ["slow_load", "late", "missing"]


def test_dead_letter_from_standard_input_names_the_dash_as_source(
    config_path, tmp_path, monkeypatch
):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"[1]\n")))
    dead = tmp_path / "dead.jsonl"
    replay(config_path, "-", "--findings", str(tmp_path / "f"), "--dead-letter", str(dead))
    assert [(r["reason"], r["source"]) for r in read_json_lines(dead)] == [("not_object", "-")]


def test_missing_input_file_exits_2_with_a_clear_message(config_path, tmp_path, capsys):
    absent = tmp_path / "absent.jsonl"
    assert replay(config_path, str(absent), "--findings", str(tmp_path / "f")) == 2
    err = capsys.readouterr().err
    assert f"cannot read {absent}" in err
    assert "No such file or directory" in err


def test_end_of_input_does_not_fire_a_deadline_after_the_last_watermark(config_path, tmp_path):
    # The last event's watermark is 630 s - 30 s = exactly the deadline: not passed.
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        lines(
            line("e-1", "password_reset_requested", 0, request_id="r-1"),
            line("e-2", "page_view", 630 * SECOND),
        )
    )
    out = tmp_path / "findings.jsonl"
    replay(config_path, str(path), "--findings", str(out), "--dead-letter", "-")
    assert out.read_bytes() == b""


def test_deadline_before_the_last_watermark_fires_in_replay(config_path, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        lines(
            line("e-1", "password_reset_requested", 0, request_id="r-1"),
            line("e-2", "page_view", 630 * SECOND + 1),
        )
    )
    out = tmp_path / "findings.jsonl"
    replay(config_path, str(path), "--findings", str(out), "--dead-letter", "-")
    assert [f["kind"] for f in read_json_lines(out)] == ["missing"]


def test_last_events_within_the_lateness_are_applied_at_end_of_input(config_path, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(lines(line("e-1", "page_load", 0, page="/checkout", duration_ms=9000)))
    out = tmp_path / "findings.jsonl"
    replay(config_path, str(path), "--findings", str(out), "--dead-letter", "-")
    assert [f["kind"] for f in read_json_lines(out)] == ["slow_load"]


def test_late_reset_email_as_the_last_events_is_found(config_path, tmp_path, capsys):
    # Requested 10:15:05, delivered 10:17:05: both within the last 30 s lateness of the input.
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        lines(
            line("e-1", "password_reset_requested", 905 * SECOND, request_id="r-1"),
            line("e-2", "email_delivered", 1025 * SECOND, request_id="r-1"),
        )
    )
    out = tmp_path / "findings.jsonl"
    replay(config_path, str(path), "--findings", str(out), "--dead-letter", "-")
    assert [f["kind"] for f in read_json_lines(out)] == ["late"]
    assert "findings: 1" in capsys.readouterr().err


def test_a_key_deadline_before_its_own_last_event_fires_at_end_of_input(config_path, tmp_path):
    # The delivery at 620 s shows the 600 s deadline passed for this request: missing, not late.
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        lines(
            line("e-1", "password_reset_requested", 0, request_id="r-1"),
            line("e-2", "page_view", 600 * SECOND),
            line("e-3", "email_delivered", 620 * SECOND, request_id="r-1"),
        )
    )
    out = tmp_path / "findings.jsonl"
    replay(config_path, str(path), "--findings", str(out), "--dead-letter", "-")
    assert [f["kind"] for f in read_json_lines(out)] == ["missing"]


def test_summary_counts_deadlines_the_input_ended_before(config_path, tmp_path, capsys):
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        lines(
            line("e-1", "password_reset_requested", 0, request_id="r-1"),
            line("e-2", "password_reset_requested", 1 * SECOND, request_id="r-2"),
        )
    )
    replay(config_path, str(path), "--findings", str(tmp_path / "f"), "--dead-letter", "-")
    err = capsys.readouterr().err
    assert "deadlines not evaluated (the input ended before them): 2" in err


def test_late_event_is_counted_in_the_summary(config_path, tmp_path, capsys):
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        lines(
            line("e-1", "page_view", 100 * SECOND),
            line("e-2", "page_load", 0, page="/checkout", duration_ms=9000),
            line("e-3", "page_view", 200 * SECOND),
        )
    )
    out = tmp_path / "findings.jsonl"
    replay(config_path, str(path), "--findings", str(out), "--dead-letter", "-")
    assert "late events (behind the watermark, still applied): 1" in capsys.readouterr().err
    assert [f["kind"] for f in read_json_lines(out)] == ["slow_load"]


def test_replay_with_bad_config_exits_2(stream_file, tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[detectors.nope]\n")
    assert replay(str(path), str(stream_file)) == 2
    assert "unknown detector(s) nope" in capsys.readouterr().err


def test_a_line_over_max_event_bytes_is_dead_lettered_with_its_head_only(config_path, tmp_path):
    path = tmp_path / "events.jsonl"
    huge = b'{"event_id": "e-big", "pad": "' + b"x" * 1_200_000 + b'"}'
    path.write_bytes(
        lines(
            line("e-1", "page_load", 0, page="/checkout", duration_ms=5230),
            huge,
            line("e-2", "page_view", 700 * SECOND),
        )
    )
    dead, out = tmp_path / "dead.jsonl", tmp_path / "findings.jsonl"
    replay(config_path, str(path), "--findings", str(out), "--dead-letter", str(dead))
    [record] = read_json_lines(dead)
    assert (record["reason"], record["position"]) == ("too_large", 2)
    # A line is read whole up to a batch message's limit (1 MiB); beyond, its head stands for it.
    assert record["detail"] == f"message is {len(huge)} bytes, limit 1048576"
    assert huge.startswith(record["raw"].encode())
    # The whole line is identified, as docs/events.md says, though only its head was held.
    assert record["raw_truncated"] is True
    assert record["raw_bytes"] == len(huge)
    assert record["raw_sha256"] == hashlib.sha256(huge).hexdigest()
    assert [f["kind"] for f in read_json_lines(out)] == ["slow_load"]


def test_an_event_over_max_event_bytes_within_a_line_is_too_large_for_the_decoder(
    config_path, tmp_path
):
    path = tmp_path / "events.jsonl"
    big = b'{"event_id": "e-big", "pad": "' + b"x" * 200_000 + b'"}'
    path.write_bytes(lines(big, line("e-2", "page_view", 700 * SECOND)))
    dead, out = tmp_path / "dead.jsonl", tmp_path / "findings.jsonl"
    replay(config_path, str(path), "--findings", str(out), "--dead-letter", str(dead))
    [record] = read_json_lines(dead)
    assert (record["reason"], record["position"]) == ("too_large", 1)
    assert record["detail"] == f"message is {len(big)} bytes, limit 65536"


def test_a_batch_line_is_replayed_event_by_event_and_a_bad_element_dead_lettered(
    config_path, tmp_path
):
    """`friction send` batches by default, so a dump of the input topic holds batch messages."""
    events = [
        line("e-1", "page_load", 0, page="/checkout", duration_ms=5230),
        line("e-2", "page_view", 700 * SECOND),
    ]
    batch = b"[" + events[0] + b', {"no": "event"}, ' + events[1] + b"]"
    alone, batched = tmp_path / "alone.jsonl", tmp_path / "batched.jsonl"
    alone.write_bytes(lines(*events))
    batched.write_bytes(lines(batch))
    for path in (alone, batched):
        replay(config_path, str(path), "--findings", str(path.with_suffix(".f")),
               "--dead-letter", str(path.with_suffix(".d")))  # fmt: skip
    assert read_json_lines(batched.with_suffix(".f")) == read_json_lines(alone.with_suffix(".f"))
    [record] = read_json_lines(batched.with_suffix(".d"))
    assert (record["reason"], record["position"]) == ("missing_field", "1[1]")


def peak_rss_kib(config_path: str, path, tmp_path) -> int:
    """Peak resident memory of one `friction replay` process, from the kernel's accounting."""
    outputs = ["--findings", str(tmp_path / "f.jsonl"), "--dead-letter", str(tmp_path / "d.jsonl")]
    command = [
        sys.executable,
        "-m",
        "friction_detector.streams.cli.main",
        "--config",
        config_path,
        "replay",
        str(path),
    ]
    command += outputs
    child = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0
    return usage.ru_maxrss


def test_a_50_mb_line_is_skipped_without_being_held_in_memory(config_path, tmp_path):
    good = lines(*(line(f"e-{n}", "page_view", n * SECOND) for n in range(1000)))
    huge_size = 50 * 1024 * 1024
    plain, with_huge = tmp_path / "plain.jsonl", tmp_path / "huge.jsonl"
    plain.write_bytes(good + good)
    with with_huge.open("wb") as out:
        out.write(good)
        out.write(b'{"pad": "' + b"x" * huge_size + b'"}\n')
        out.write(good)
    baseline = peak_rss_kib(config_path, plain, tmp_path)
    peak = peak_rss_kib(config_path, with_huge, tmp_path)
    print(f"peak RSS: {baseline:,} KiB without the line, {peak:,} KiB with a 50 MiB line")
    assert peak - baseline < huge_size // 2 // 1024


def test_an_output_that_cannot_be_written_exits_2_naming_it(
    config_path, stream_file, tmp_path, capsys
):
    out = tmp_path / "absent" / "findings.jsonl"
    assert replay(config_path, str(stream_file), "--findings", str(out)) == 2
    assert (
        capsys.readouterr().err
        == f"friction replay: cannot write {out}: No such file or directory\n"
    )


def test_replay_accumulates_a_customers_findings(tmp_path, stream_file, capsys):
    """The stream's slow checkout, late and missing emails are one customer's: with
    friction_accumulated enabled, replay writes one finding listing the three, after them."""
    path = tmp_path / "accumulated.toml"
    enabled = [*CONTRACT_DETECTORS, "friction_accumulated"]
    path.write_text(f"[detectors]\nenable = {orjson.dumps(enabled).decode()}\n")
    out = tmp_path / "findings.jsonl"
    assert replay(str(path), str(stream_file), "--findings", str(out)) == 0
    findings = read_json_lines(out)
    assert [f["detector"] for f in findings][-1] == "friction_accumulated"
    one = findings[-1]
    assert [f["finding_id"] for f in one["evidence"]["findings"]] == [
        f["finding_id"] for f in findings[:-1]
    ]
    assert one["subject"] == {"user_id": "u-1"} and one["severity"] == "critical"
    assert "friction_accumulated accumulated: 1" in capsys.readouterr().err


def test_dead_letter_dash_is_standard_output_and_the_default_standard_error(
    config_path, stream_file, tmp_path, capsysbinary
):
    findings = str(tmp_path / "f.jsonl")
    replay(config_path, str(stream_file), "--findings", findings, "--dead-letter", "-")
    captured = capsysbinary.readouterr()
    reasons = [orjson.loads(item)["reason"] for item in captured.out.splitlines()]
    assert reasons == ["invalid_json", "missing_field"]
    assert b'"reason"' not in captured.err
    replay(config_path, str(stream_file), "--findings", findings)
    captured = capsysbinary.readouterr()
    assert captured.out == b""
    assert captured.err.count(b'"reason"') == 2


def test_the_command_ends_at_once_after_writing_everything(config_path, stream_file, tmp_path):
    """The `friction` command ends the process without freeing replay's state: its findings,
    dead letters, outcomes and summary are all out first, through pipes as through files."""
    dead = tmp_path / "dead.jsonl"
    expected = tmp_path / "expected.jsonl"
    replay(config_path, str(stream_file), "--findings", str(expected), "--dead-letter", str(dead))
    command = [sys.executable, "-m", "friction_detector.streams.cli.main", "--config", config_path]
    child = subprocess.run(
        [*command, "replay", str(stream_file), "--dead-letter", str(tmp_path / "child.jsonl")],
        capture_output=True,
        check=False,
    )
    assert child.returncode == 0
    assert child.stdout == expected.read_bytes()
    assert (tmp_path / "child.jsonl").read_bytes() == dead.read_bytes()
    assert b"findings: 3\n" in child.stderr


def test_replay_called_in_a_program_frees_its_state(config_path, stream_file, tmp_path):
    """Only the command line keeps a replay's state until the process ends; a program (or a
    test) that calls replay many times does not accumulate it."""
    from friction_detector.streams.cli import heap

    replay(config_path, str(stream_file), "--findings", str(tmp_path / "f"), "--dead-letter", "-")
    assert heap._kept == []
