"""A simulated day: the email provider slows down for 20 minutes amid normal traffic.

`friction replay --alerts` over it must page once for the affected template and resolve once,
and stay quiet about everything else, the same way on every run.
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest
from friction_detector.detectors.timefmt import format_time
from friction_detector.streams.cli.main import main

DAY_START = 1_795_305_600_000  # 2026-11-22T00:00:00Z
MIN = 60_000
INCIDENT = (DAY_START + 14 * 60 * MIN, DAY_START + (14 * 60 + 20) * MIN)  # 14:00-14:20


def day_of_events(seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    events: list[dict] = []
    serial = iter(range(10**9))

    def add(event_type: str, at: int, session: str, **attrs: object) -> None:
        events.append(
            {
                "event_id": f"e-{next(serial)}",
                "type": event_type,
                "time": format_time(at),
                "user_id": "u-" + session,
                "session_id": session,
                "attrs": attrs,
            }
        )

    end = DAY_START + 24 * 60 * MIN
    at = DAY_START
    while at < end:  # password resets, one every 20 s on average, two templates
        at += rng.randint(10_000, 30_000)
        request = f"r-{at}"
        session = f"s-r{at}"
        template = "password_reset" if rng.random() < 0.8 else "password_reset_sso"
        add("password_reset_requested", at, session, request_id=request)
        delay = rng.randint(3_000, 40_000)
        if rng.random() < 0.01:
            delay = rng.randint(61_000, 200_000)  # the odd slow one
        if template == "password_reset" and INCIDENT[0] <= at < INCIDENT[1]:
            delay = rng.randint(90_000, 900_000)  # the provider is slow; some miss 10 min
        add("email_delivered", at + delay, session, request_id=request, template=template)
    at = DAY_START
    while at < end:  # checkout page loads, 2% slow
        at += rng.randint(5_000, 15_000)
        page = rng.choice(["/checkout/cart", "/checkout/payment", "/checkout/shipping"])
        duration = rng.randint(300, 2500) if rng.random() > 0.02 else rng.randint(4100, 9000)
        add(
            "page_load",
            at,
            f"s-c{at // 600_000}-{rng.randint(0, 40)}",
            page=page,
            duration_ms=duration,
        )
    at = DAY_START
    while at < end:  # support chats answered within 20-100 s
        at += rng.randint(60_000, 180_000)
        conversation = f"c-{at}"
        add("chat_started", at, f"s-h{at}", conversation_id=conversation, queue="billing")
        add(
            "chat_message",
            at + rng.randint(20_000, 100_000),
            f"s-h{at}",
            conversation_id=conversation,
            author="agent",
        )
    at = DAY_START
    while at < end:  # form submits, one customer in fifty retries three times
        at += rng.randint(20_000, 60_000)
        tries = 3 if rng.random() < 0.02 else 1
        for attempt in range(tries):
            add(
                "form_submit",
                at + attempt * 10_000,
                f"s-f{at}",
                form_id="signup",
                outcome="error" if attempt < tries - 1 else "success",
            )
    events.sort(key=lambda e: (e["time"], e["event_id"]))
    return events


@pytest.fixture(scope="module")
def day_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("incident") / "day.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in day_of_events()))
    return path


def replay_alerts(day_file: Path, out_dir: Path) -> list[dict]:
    alerts_path = out_dir / "alerts.jsonl"
    code = main(
        [
            "replay",
            str(day_file),
            "--findings",
            str(out_dir / "findings.jsonl"),
            "--alerts",
            str(alerts_path),
        ]
    )
    assert code == 0
    return [orjson.loads(line) for line in alerts_path.read_bytes().splitlines()]


def test_slow_email_provider_pages_once_and_resolves_once(day_file, tmp_path):
    alerts = replay_alerts(day_file, tmp_path)
    assert [(a["status"], a["labels"]["alertname"], a["labels"]["segment"]) for a in alerts] == [
        ("firing", "FrictionResetEmailsDelayed", "password_reset"),
        ("resolved", "FrictionResetEmailsDelayed", "password_reset"),
    ]
    firing, resolved = alerts
    assert firing["alert_id"] == resolved["alert_id"]
    assert format_time(INCIDENT[0]) <= firing["starts_at"] <= format_time(INCIDENT[1])
    assert resolved["ends_at"] > format_time(INCIDENT[1])
    assert resolved["ends_at"] < format_time(INCIDENT[1] + 60 * MIN)
    assert firing["labels"]["severity"] == "critical"
    assert firing["annotations"]["runbook_url"].endswith("/friction-reset-emails-delayed.md")


def test_replay_alerts_are_the_same_on_every_run(day_file, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert replay_alerts(day_file, tmp_path / "a") == replay_alerts(day_file, tmp_path / "b")


def test_replay_summary_counts_alerts_by_status(day_file, tmp_path, capsys):
    replay_alerts(day_file, tmp_path)
    summary = capsys.readouterr().err
    assert "alerts: 2" in summary
    assert "firing: 1" in summary
    assert "resolved: 1" in summary


def test_bad_alert_configuration_exits_2_with_the_key(tmp_path, capsys):
    config = tmp_path / "friction.toml"
    config.write_text("[alerts]\nbucket_s = -1\n")
    events = tmp_path / "none.jsonl"
    events.write_bytes(b"")
    code = main(["--config", str(config), "replay", str(events), "--alerts", str(tmp_path / "a")])
    assert code == 2
    assert "alerts.bucket_s" in capsys.readouterr().err
