"""The example plugin, installed as its own distribution, is discovered, configured and run."""

from __future__ import annotations

from pathlib import Path

import orjson
from friction_detector.detectors.registry import installed_detectors
from friction_detector.streams.cli.main import main


def _rejections(path: Path, count: int) -> Path:
    lines = [
        {
            "event_id": f"a-{n}",
            "type": "address_validated",
            "time": f"2026-11-22T10:0{n}:00Z",
            "session_id": "s-1",
            "attrs": {"outcome": "rejected", "country": "DE"},
        }
        for n in range(count)
    ]
    lines.append({"event_id": "tick", "type": "heartbeat", "time": "2026-11-22T11:00:00Z"})
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    return path


def _replay(tmp_path: Path, events: Path, config: str) -> list[dict]:
    config_path = tmp_path / "friction.toml"
    config_path.write_text(config)
    out = tmp_path / "findings.jsonl"
    code = main(["--config", str(config_path), "replay", str(events), "--findings", str(out)])
    assert code == 0
    return [orjson.loads(line) for line in out.read_bytes().splitlines()]


def test_plugin_from_another_distribution_is_discovered():
    cls = installed_detectors()["address_retry"]
    assert cls.__module__ == "friction_address_retry"


def test_plugin_runs_in_replay_with_its_defaults(tmp_path):
    findings = _replay(tmp_path, _rejections(tmp_path / "e.jsonl", 3), "")
    assert [(f["detector"], f["kind"]) for f in findings] == [("address_retry", "address_rejected")]


def test_plugin_parameters_come_from_the_configuration_file(tmp_path):
    events = _rejections(tmp_path / "e.jsonl", 2)
    assert _replay(tmp_path, events, "") == []
    configured = _replay(tmp_path, events, "[detectors.address_retry]\nmax_rejections = 2\n")
    assert [f["evidence"]["rejections"] for f in configured] == [2]
