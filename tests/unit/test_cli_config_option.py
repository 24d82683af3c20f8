"""`--config` before or after the sub-command; the one after it wins."""

from __future__ import annotations

from pathlib import Path

import pytest
from friction_detector.streams.cli.main import build_parser, main

READERS = [["replay", "events.jsonl"], ["worker"], ["detectors", "list"], ["demo"]]


@pytest.mark.parametrize("command", READERS, ids=lambda c: c[0])
def test_config_is_accepted_after_the_sub_command(command):
    args = build_parser().parse_args([*command, "--config", "after.toml"])
    assert args.config == Path("after.toml")


@pytest.mark.parametrize("command", READERS, ids=lambda c: c[0])
def test_config_is_accepted_before_the_sub_command(command):
    args = build_parser().parse_args(["--config", "before.toml", *command])
    assert args.config == Path("before.toml")


def test_config_after_the_sub_command_wins():
    args = build_parser().parse_args(["--config", "before.toml", "worker", "--config", "a.toml"])
    assert args.config == Path("a.toml")


def test_no_config_anywhere_is_none():
    assert build_parser().parse_args(["worker"]).config is None


def test_detectors_list_reads_the_config_given_after_it(tmp_path, capsys):
    path = tmp_path / "friction.toml"
    path.write_text("[detectors.slow_checkout]\nthreshold_ms = 1234\n")
    assert main(["detectors", "list", "--config", str(path)]) == 0
    assert "threshold_ms = 1234 (default 4000)" in capsys.readouterr().out
