"""`friction replay --webhook`: a back-test delivers the findings it writes, signed, and a slow
receiver never holds the replay up for longer than the flush wait."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import orjson
import pytest
from friction_detector.streams.cli.main import main
from helpers_worker import compact_events, write_config
from loopback import free_port
from webhook_receiver import SECRET, Receiver

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "webhook.schema.json").read_text())
EXAMPLE_RECEIVER = ROOT / "examples" / "webhook-receiver" / "receiver.py"
LATENESS_MS = 5_000


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv("FRICTION_WEBHOOK_SECRET", SECRET)


def events_file(tmp_path: Path, scenarios: int = 120) -> Path:
    events = compact_events(random.Random(11), scenarios, end_ms=1_700_000_000_000)
    clock = {"event_id": "clock", "type": "heartbeat", "time": 1_700_000_000_000 + 120_000}
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in [*events, clock]) + b"\n")
    return path


def config_file(tmp_path: Path, webhook: str = "") -> Path:
    path = write_config(tmp_path / "friction.toml", LATENESS_MS)
    if webhook:
        path.write_text(path.read_text() + "\n[webhook]\n" + webhook)
    return path


def written(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_replay_delivers_the_findings_it_writes(tmp_path, secret, capsys):
    config, findings = config_file(tmp_path), tmp_path / "findings.jsonl"
    with Receiver() as receiver:
        status = main(["replay", str(events_file(tmp_path)), "--config", str(config),
                       "--findings", str(findings), "--webhook", receiver.url])  # fmt: skip
        records = receiver.records()
        requests = receiver.received
    assert status == 0
    expected = written(findings)
    assert len(expected) > 20
    assert [r["finding"] for r in records] == expected
    assert {r.doc["origin"] for r in requests} == {"replay"}
    assert [r.problem for r in requests] == [None] * len(requests)
    for request in requests:
        jsonschema.validate(request.doc, SCHEMA, format_checker=jsonschema.FormatChecker())
    err = capsys.readouterr().err
    assert f"webhook {receiver.url}: {len(expected)} records delivered" in err
    assert "not delivered: 0" in err


def test_replay_sends_only_what_the_filter_lets_through(tmp_path, secret):
    config = config_file(tmp_path, 'detectors = ["late_reset_email"]\nkinds = ["missing"]\n')
    findings = tmp_path / "findings.jsonl"
    with Receiver() as receiver:
        main(["replay", str(events_file(tmp_path)), "--config", str(config),
              "--findings", str(findings), "--webhook", receiver.url])  # fmt: skip
        records = receiver.records()
    wanted = [
        f
        for f in written(findings)
        if (f["detector"], f["kind"]) == ("late_reset_email", "missing")
    ]
    assert wanted
    assert [r["finding"] for r in records] == wanted


def test_slow_receiver_overflows_the_queue_and_replay_still_ends_in_bounded_time(
    tmp_path, secret, capsys
):
    config = config_file(
        tmp_path, "queue_size = 4\nbatch_size = 1\nflush_timeout_s = 1.5\ntimeout_s = 5\n"
    )
    findings = tmp_path / "findings.jsonl"
    with Receiver(delay_s=1.0) as receiver:
        started = time.monotonic()
        status = main(["replay", str(events_file(tmp_path)), "--config", str(config),
                       "--findings", str(findings), "--webhook", receiver.url])  # fmt: skip
        elapsed = time.monotonic() - started
    assert status == 0
    assert elapsed < 6  # the run, then at most flush_timeout_s waiting for the receiver
    total = len(written(findings))
    err = capsys.readouterr().err
    summary = err[err.index("webhook http") :]
    delivered = int(summary.split(": ", 1)[1].split(" records delivered")[0])
    queue_full = int(summary.split("queue_full: ")[1].split("\n")[0])
    shutdown = int(summary.split("shutdown: ")[1].split("\n")[0])
    assert queue_full >= total - 4 - 1  # at most the queue and the POST under way held more
    assert delivered + queue_full + shutdown == total  # every finding accounted for
    assert shutdown > 0  # the flush wait ran out with the slow receiver still busy


def test_example_receiver_verifies_and_prints_what_replay_sends(tmp_path, secret):
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, str(EXAMPLE_RECEIVER), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy(),
    )  # fmt: skip
    try:
        assert b"listening" in receiver.stderr.readline()
        config, findings = config_file(tmp_path), tmp_path / "findings.jsonl"
        url = f"http://127.0.0.1:{port}/"
        main(["replay", str(events_file(tmp_path, 40)), "--config", str(config),
              "--findings", str(findings), "--webhook", url])  # fmt: skip
        forged = urllib.request.Request(
            url,
            data=b"{}",
            headers={"X-Friction-Timestamp": str(int(time.time())),
                     "X-Friction-Signature": "sha256=00"},
        )  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=5)
        assert refused.value.code == 401
    finally:
        receiver.terminate()
        out, err = receiver.communicate(timeout=10)
    printed = [json.loads(line) for line in out.splitlines()]
    assert [r["finding"] for r in printed] == written(findings)
    assert b"refused: signature does not match" in err


def checkout_journeys(tmp_path: Path) -> Path:
    """Slow checkouts, half of them ordered within the 3 s window, and a clock that passes
    every window; so each finding has its outcome decided."""
    events, t0 = [], 1_700_000_000_000

    def ev(kind: str, t: int, session: str, attrs: dict) -> None:
        events.append({"event_id": f"e-{len(events)}", "type": kind, "time": t,
                       "session_id": session, "attrs": attrs})  # fmt: skip

    for i in range(20):
        session = f"s-{i}"
        ev("page_load", t0 + i * 100, session, {"page": "/checkout/pay", "duration_ms": 6000})
        if i % 2:
            ev("order_placed", t0 + i * 100 + 1000, session, {"order_id": f"o-{i}"})
        attrs = {"form_id": "signup", "outcome": "error"}
        for step in range(3):
            ev("form_submit", t0 + i * 100 + step * 200, f"f-{i}", attrs)
    ev("heartbeat", t0 + 60_000, "clock", {})
    path = tmp_path / "journeys.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in sorted(events, key=lambda e: e["time"])))
    return path


def journeys_config(tmp_path: Path, webhook: str) -> Path:
    window = "outcome_window_s = 3"
    path = write_config(
        tmp_path / "friction.toml",
        LATENESS_MS,
        params={"slow_checkout": window, "repeated_form_submission": window},
    )
    path.write_text(path.read_text() + "\n[webhook]\n" + webhook)
    return path


def test_replay_delivers_the_outcomes_it_writes_when_asked_for(tmp_path, secret, capsys):
    config = journeys_config(tmp_path, 'record_types = ["finding", "outcome"]\n')
    findings, outcomes = tmp_path / "findings.jsonl", tmp_path / "outcomes.jsonl"
    with Receiver() as receiver:
        status = main(["replay", str(checkout_journeys(tmp_path)), "--config", str(config),
                       "--findings", str(findings), "--outcomes", str(outcomes),
                       "--webhook", receiver.url])  # fmt: skip
        records = receiver.records()
        requests = receiver.received
    assert status == 0
    expected = written(outcomes)
    assert len(expected) == 40  # 20 slow checkouts and 20 repeated submits
    assert {o["outcome"] for o in expected} == {"completed", "abandoned"}
    assert [r["outcome"] for r in records if r["record_type"] == "outcome"] == expected
    assert [r["finding"] for r in records if r["record_type"] == "finding"] == written(findings)
    for request in requests:
        assert request.problem is None
        jsonschema.validate(request.doc, SCHEMA, format_checker=jsonschema.FormatChecker())
    err = capsys.readouterr().err
    assert f"{len(expected) + len(written(findings))} records delivered (40 findings, " in err
    assert "40 outcomes, 0 alerts)" in err


def test_outcomes_are_filtered_by_detector_and_kind_and_off_by_default(tmp_path, secret):
    filtered = 'record_types = ["outcome"]\ndetectors = ["slow_checkout"]\nkinds = ["slow_load"]\n'
    for webhook, wanted in (
        (filtered, lambda o: o["detector"] == "slow_checkout"),
        ("", lambda o: False),  # the default record types: findings and alerts
    ):
        config = journeys_config(tmp_path, webhook)
        outcomes = tmp_path / "outcomes.jsonl"
        with Receiver() as receiver:
            main(["replay", str(checkout_journeys(tmp_path)), "--config", str(config),
                  "--findings", str(tmp_path / "findings.jsonl"), "--outcomes", str(outcomes),
                  "--webhook", receiver.url])  # fmt: skip
            records = receiver.records()
        expected = [o for o in written(outcomes) if wanted(o)]
        assert [r["outcome"] for r in records if r["record_type"] == "outcome"] == expected
        if webhook:
            assert len(expected) == 20 and records == [
                {"record_type": "outcome", "outcome": o} for o in expected
            ]
