"""Helpers for worker tests: a worker subprocess, a compact event generator, topic readers."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from functools import partial
from pathlib import Path

import orjson
from friction_detector.detectors.config import load_config
from friction_detector.detectors.registry import installed_detectors
from friction_detector.streams.cli.replay import replay
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_DETECTORS = (
    "slow_checkout",
    "late_reset_email",
    "long_chat_wait",
    "repeated_form_submission",
)
# Every event of the worker tests lies in the 5 s before it is sent and a restart takes well
# under 10 s, so no event falls behind a watermark moved by the clock: the worker sees what
# replay sees.
LATENESS_MS = 20_000
FINDINGS_TIMEOUT_S = 90


def write_config(
    path: Path,
    lateness_ms: int,
    also: tuple[str, ...] = (),
    params: dict[str, str] | None = None,
) -> Path:
    """The four contract detectors with deadlines of seconds, and the detectors `also` with
    their defaults; every other detector off. `params` adds TOML lines to a detector's table."""
    lines = ["[engine]", f"allowed_lateness_ms = {lateness_ms}", ""]
    tuned = {
        "late_reset_email": "late_after_s = 2\nmissing_after_s = 4",
        "long_chat_wait": "slow_after_s = 2\nunanswered_after_s = 6",
        "repeated_form_submission": "window_s = 5",
    }
    for name, extra in (params or {}).items():
        tuned[name] = tuned.get(name, "") + "\n" + extra
    for name in installed_detectors():
        lines.append(f"[detectors.{name}]")
        if name in CONTRACT_DETECTORS or name in also:
            lines.append(tuned.get(name, ""))
        else:
            lines.append("enabled = false")
        lines.append("")
    path.write_text("\n".join(lines))
    return path


class Names:
    """Unique topic names and app id for one test."""

    def __init__(self, label: str) -> None:
        tag = f"{label}-{uuid.uuid4().hex[:8]}"
        self.app_id = f"app-{tag}"
        self.input = f"events-{tag}"
        self.findings = f"findings-{tag}"
        self.dead_letters = f"dead-{tag}"
        self.alerts = f"alerts-{tag}"


class Worker:
    """`friction worker` as a subprocess, logging to a file the test can read."""

    def __init__(
        self,
        bootstrap: str,
        config: Path,
        names: Names,
        log: Path,
        launcher: tuple[str, ...] = ("-m", "friction_detector.streams.cli.main"),
    ) -> None:
        """`launcher` is what follows the interpreter: the CLI module, or a script wrapping it."""
        self.log = log
        self.args = [
            sys.executable,
            *launcher,
            "--config",
            str(config),
            "worker",
            "--broker",
            f"kafka://{bootstrap}",
            "--app-id",
            names.app_id,
            "--input-topic",
            names.input,
            "--findings-topic",
            names.findings,
            "--dead-letter-topic",
            names.dead_letters,
            "--alerts-topic",
            names.alerts,
            "--metrics-port",
            "0",
            "--idle-advance-s",
            "1",
            "--tick-interval-s",
            "0.5",
            "--log-level",
            "INFO",
            "--data-dir",
            str(log.parent / f"{log.stem}-data"),
        ]
        self.proc: subprocess.Popen | None = None

    def start(self) -> Worker:
        self._out = self.log.open("ab")
        self._ready_mark = self.log.stat().st_size if self.log.exists() else 0
        self.proc = subprocess.Popen(
            self.args, stdout=self._out, stderr=subprocess.STDOUT, cwd=ROOT, env=os.environ.copy()
        )
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.tail()
            text = self.log.read_bytes()[self._ready_mark :]
            if b"Worker ready" in text:
                return
            time.sleep(0.2)
        raise AssertionError(f"worker not ready within {timeout}s:\n{self.tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """Stop with SIGTERM (SIGKILL after 20 s); nothing to do if never started."""
        if self.proc is None:
            return
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


# -- events ---------------------------------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


def add_event(
    events: list[dict],
    rng: random.Random,
    kind: str,
    t: int,
    attrs: dict,
    user: str | None = None,
    session: str | None = None,
) -> None:
    """Append an event to `events`, its id unique there (its index, then random digits)."""
    event_id = f"e-{len(events)}-{rng.getrandbits(24):06x}"
    events.append(
        {"event_id": event_id, "type": kind, "time": t, "user_id": user,
         "session_id": session, "attrs": attrs}
    )  # fmt: skip


def compact_events(rng: random.Random, scenarios: int, end_ms: int) -> list[dict]:
    """Contract scenarios, found and not, with every event in the 5 s before `end_ms`."""
    events: list[dict] = []
    ev = partial(add_event, events, rng)

    for i in range(scenarios):
        t = end_ms - 5000 + rng.randint(0, 2000)
        user, session = f"u-{i}", f"s-{i}-{rng.getrandbits(20):05x}"
        kind = i % 4
        if kind == 0:
            for step in range(3):
                slow = step == 2 and rng.random() < 0.4
                attrs = {"page": f"/checkout/{step}", "duration_ms": 6000 if slow else 800}
                ev("page_load", t + step * 500, attrs, user, session)
        elif kind == 1:
            request = f"r-{i}"
            ev("password_reset_requested", t, {"request_id": request}, user, session)
            delay = rng.choice([500, 2800, None])
            if delay is not None:
                attrs = {"request_id": request, "template": "password_reset"}
                ev("email_delivered", t + delay, attrs, user)
        elif kind == 2:
            c = {"conversation_id": f"c-{i}"}
            ev("chat_started", t, c, user)
            wait = rng.choice([700, 2600, None])
            if wait is not None:
                ev("chat_message", t + wait, {**c, "author": "agent"})
            if rng.random() < 0.3:
                ev("chat_ended", t + 2900, c)
        else:
            form_id = rng.choice(["signup", "address"])
            for step in range(rng.choice([1, 3, 4])):
                attrs = {"form_id": form_id, "outcome": "error", "error_fields": ["zip"]}
                ev("form_submit", t + step * 600, attrs, user, session)
    # Redeliveries: the same event twice must count once.
    events.extend(rng.sample(events, len(events) // 20))
    rng.shuffle(events)
    events.sort(key=lambda e: e["time"] + rng.randint(0, 300))  # nearly in order
    return events


def replay_findings(config_path: Path, events: list[dict], lateness_ms: int) -> dict[str, dict]:
    """What `friction replay` finds, by id; a last event moves time past every deadline."""
    last = max(e["time"] for e in events)
    clock = {"event_id": "clock", "type": "heartbeat", "time": last + 60_000 + lateness_ms}
    lines = b"\n".join(orjson.dumps(e) for e in events + [clock]) + b"\n"
    out = io.BytesIO()
    replay(io.BytesIO(lines), load_config(config_path), out, io.BytesIO(), source_name="test")
    findings = (orjson.loads(line) for line in out.getvalue().splitlines())
    return {f["finding_id"]: f for f in findings}


# -- Kafka ----------------------------------------------------------------------------------


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """A topic of `partitions` partitions, made before the worker would make it its own way."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, values: list[bytes], keys: list[bytes | None]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for key, value in zip(keys, values, strict=True):
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()


def produce_events(bootstrap: str, topic: str, events: list[dict]) -> None:
    keys = [(e.get("session_id") or e.get("user_id") or e["event_id"]).encode() for e in events]
    produce(bootstrap, topic, [orjson.dumps(e) for e in events], keys)


class TopicReader:
    """Everything on a topic from the beginning, read incrementally."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            # A topic created a moment before may be missing from the first metadata: ask again
            # within a second, not after kafka-python's default of five minutes.
            metadata_max_age_ms=1000,
        )
        self.values: list[bytes] = []

    def poll(self, seconds: float = 0.5) -> None:
        for records in self.consumer.poll(timeout_ms=int(seconds * 1000)).values():
            self.values.extend(r.value for r in records)

    def records(self) -> list[dict]:
        """What was read, less outcomes (their own record type beside findings)."""
        return [r for r in map(orjson.loads, self.values) if r.get("record_type") != "outcome"]

    def outcomes(self) -> list[dict]:
        return [r for r in map(orjson.loads, self.values) if r.get("record_type") == "outcome"]

    def by_id(self) -> dict[str, dict]:
        return {f["finding_id"]: f for f in self.records()}

    def ids(self, field: str = "finding_id") -> list[str]:
        return [record[field] for record in self.records()]

    def wait_for(self, wanted: set[str], timeout: float, settle: float = 3.0) -> list[str]:
        """All ids read once `wanted` are all present (then `settle` s more), or at timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not wanted <= set(self.ids()):
            self.poll()
        end = time.monotonic() + settle
        while time.monotonic() < end:
            self.poll()
        return self.ids()

    def close(self) -> None:
        self.consumer.close()


def assert_replay_findings(
    reader: TopicReader, config: Path, events: list[dict], lateness_ms: int, timeout: float
) -> None:
    """The findings topic holds exactly what replay finds in `events`: none lost, none more."""
    expected = replay_findings(config, events, lateness_ms)
    reader.wait_for(set(expected), timeout)
    assert_same_findings(reader.by_id(), expected)


def assert_same_findings(found: dict[str, dict], expected: dict[str, dict]) -> None:
    """Equal sets of finding ids; on failure, says which moments were lost or added."""
    lost = [describe(expected[i]) for i in sorted(set(expected) - set(found))]
    added = [describe(found[i]) for i in sorted(set(found) - set(expected))]
    assert (lost, added) == ([], []), "\n".join(
        [f"lost {len(lost)}:", *lost, f"added {len(added)}:", *added]
    )


def describe(finding: dict) -> str:
    return f"{finding['detector']}/{finding['kind']} {finding['subject']} at {finding['time']}"
