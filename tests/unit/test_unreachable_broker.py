"""A broker that is not there: one line naming it, within seconds, not a 30 s traceback."""

from __future__ import annotations

import socket
import time

import pytest
from friction_detector.streams.cli.main import main


@pytest.fixture
def dead_port() -> int:
    """A port where nothing listens: bound once for a free number, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("command", ["send", "worker"])
def test_command_against_an_absent_broker_says_so_in_one_line(command, dead_port, tmp_path, capsys):
    events = tmp_path / "events.jsonl"
    events.write_bytes(b'{"event_id": "e-1"}\n')
    args = [command, str(events)] if command == "send" else [command]
    started = time.monotonic()
    code = main([*args, "--broker", f"kafka://127.0.0.1:{dead_port}"])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2
    assert elapsed < 10
    assert err.count("\n") == 1, err
    assert f"127.0.0.1:{dead_port}" in err and "Traceback" not in err


def test_replay_to_an_unwritable_findings_file_is_one_line(tmp_path, capsys):
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"")
    code = main(["replay", str(events), "--findings", "/nonexistent/x.jsonl"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == "friction replay: cannot write /nonexistent/x.jsonl: No such file or directory\n"
