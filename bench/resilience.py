"""Resilience run: the live worker against replay while workers are killed and the broker restarts.

Two `friction worker` processes in one group read a live stream produced at a steady rate (event
times from the wall clock). Meanwhile, at seeded random moments, one of them is SIGKILLed and
restarted a few seconds later, and the broker is stopped and started again on the same ports and
data. Once the group has read all input and the findings stop, the findings topic is compared by
`finding_id` with `friction replay` over the same events: the product promises they are equal.
Exit status 0 when nothing is lost and nothing extra, 1 otherwise.

A killed member holds its partitions until its group session times out. Faust's default is 60 s;
the workers here get `BROKER_SESSION_TIMEOUT` (a Faust setting read from the environment),
10 s unless `--session-timeout-s` says otherwise, so that kills every few seconds stay
within minutes.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from friction_detector.detectors.config import load_config  # noqa: E402
from friction_detector.detectors.engine import DEFAULT_ALLOWED_LATENESS_MS  # noqa: E402
from friction_detector.detectors.registry import installed_detectors  # noqa: E402
from friction_detector.streams.cli.replay import replay  # noqa: E402
from friction_detector.streams.devkit.local_kafka import LocalKafka  # noqa: E402
from friction_detector.streams.kafka.settings import input_group  # noqa: E402

CONTRACT_DETECTORS = {
    "slow_checkout": "",
    "late_reset_email": "late_after_s = 2\nmissing_after_s = 4",
    "long_chat_wait": "slow_after_s = 2\nunanswered_after_s = 6",
    "repeated_form_submission": "window_s = 5",
}
LONGEST_DEADLINE_S = 6
RESTART_AFTER_S = (1.0, 4.0)  # a killed worker is started again this long after its kill
READY_TIMEOUT_S = 90
CATCH_UP_TIMEOUT_S = 240  # from the last event until the group has read all input
QUIET_S = 5.0  # findings have stopped once the topic has not grown for this long


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(path: Path, lateness_ms: int = DEFAULT_ALLOWED_LATENESS_MS) -> Path:
    """The four contract detectors with deadlines of seconds; every other detector off."""
    lines = ["[engine]", f"allowed_lateness_ms = {lateness_ms}", ""]
    for name in installed_detectors():
        lines.append(f"[detectors.{name}]")
        lines.append(CONTRACT_DETECTORS.get(name, "enabled = false"))
        lines.append("")
    path.write_text("\n".join(lines))
    return path


@dataclass(frozen=True)
class Names:
    """Unique topic names and app id for one run."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def app_id(self) -> str:
        return f"resilience-{self.tag}"

    @property
    def input(self) -> str:
        return f"events-{self.tag}"

    @property
    def findings(self) -> str:
        return f"findings-{self.tag}"

    @property
    def dead_letters(self) -> str:
        return f"dead-{self.tag}"

    @property
    def alerts(self) -> str:
        return f"alerts-{self.tag}"

    @property
    def routed(self) -> str:
        return f"{self.app_id}-routed"


# -- workers ----------------------------------------------------------------------------------


class Worker:
    """One `friction worker` subprocess of the group, restartable, logging to its own file."""

    def __init__(
        self, bootstrap: str, config: Path, names: Names, log: Path, session_timeout_s: float
    ) -> None:
        self.log = log
        self.args = [
            sys.executable, "-m", "friction_detector.streams.cli.main",
            "--config", str(config), "worker",
            "--broker", f"kafka://{bootstrap}", "--app-id", names.app_id,
            "--input-topic", names.input, "--findings-topic", names.findings,
            "--dead-letter-topic", names.dead_letters, "--alerts-topic", names.alerts,
            "--metrics-port", "0", "--idle-advance-s", "1", "--tick-interval-s", "0.5",
            "--log-level", "INFO", "--data-dir", str(log.parent / f"{log.stem}-data"),
        ]  # fmt: skip
        self.env = {**os.environ, "BROKER_SESSION_TIMEOUT": str(session_timeout_s)}
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> Worker:
        with self.log.open("ab") as out:
            self._ready_mark = out.tell()
            self.proc = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=self.env
            )
        self.starts += 1
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        return self.alive() and b"Worker ready" in self.log.read_bytes()[self._ready_mark :]

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if not self.alive():
                raise RuntimeError(f"{self.log.name}: worker exited:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.log.name}: not ready in {timeout:g}s:\n{self.tail()}")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, SIGKILL after 20 s; nothing to do if not running."""
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def wait_group_stable(bootstrap: str, group: str, members: int, timeout: float = 60) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            description = admin.describe_groups([group])[group]
            if description["group_state"] == "Stable" and len(description["members"]) == members:
                return
            time.sleep(0.5)
    finally:
        admin.close()
    raise RuntimeError(f"group {group} did not settle with {members} members in {timeout:g}s")


# -- events -----------------------------------------------------------------------------------


@dataclass
class Planned:
    """An event due `at_s` seconds into the stream; its time is stamped when it is sent.

    `original` marks a redelivery: it is sent exactly as the earlier event was."""

    at_s: float
    event: dict
    original: Planned | None = None
    sent: dict | None = None


def scenarios(rng: random.Random) -> Iterator[list[tuple[int, dict]]]:
    """Contract scenarios, found and not, as (offset ms, event without time), as the worker
    tests' compact events are, without end."""
    for i in range(10**12):
        yield _scenario(rng, i)


def _scenario(rng: random.Random, i: int) -> list[tuple[int, dict]]:
    events: list[tuple[int, dict]] = []

    def ev(kind: str, offset: int, attrs: dict, user=None, session=None) -> None:
        event_id = f"e-{i}-{len(events)}-{rng.getrandbits(24):06x}"
        events.append(
            (offset, {"event_id": event_id, "type": kind, "user_id": user,
                      "session_id": session, "attrs": attrs})
        )  # fmt: skip

    user, session = f"u-{i}", f"s-{i}-{rng.getrandbits(20):05x}"
    kind = i % 4
    if kind == 0:
        for step in range(3):
            slow = step == 2 and rng.random() < 0.4
            attrs = {"page": f"/checkout/{step}", "duration_ms": 6000 if slow else 800}
            ev("page_load", step * 500, attrs, user, session)
    elif kind == 1:
        request = f"r-{i}"
        ev("password_reset_requested", 0, {"request_id": request}, user, session)
        delay = rng.choice([500, 2800, None])
        if delay is not None:
            attrs = {"request_id": request, "template": "password_reset"}
            ev("email_delivered", delay, attrs, user)
    elif kind == 2:
        c = {"conversation_id": f"c-{i}"}
        ev("chat_started", 0, c, user)
        wait = rng.choice([700, 2600, None])
        if wait is not None:
            ev("chat_message", wait, {**c, "author": "agent"})
        if rng.random() < 0.3:
            ev("chat_ended", 2900, c)
    else:
        form_id = rng.choice(["signup", "address"])
        for step in range(rng.choice([1, 3, 4])):
            attrs = {"form_id": form_id, "outcome": "error", "error_fields": ["zip"]}
            ev("form_submit", step * 600, attrs, user, session)
    return events


def plan_events(rng: random.Random, n: int, rate: float) -> list[Planned]:
    """`n` events (5% of them redelivered a second or two later) at `rate` per second:
    scenarios start one after the other and play out over their few seconds."""
    originals = n - n // 20
    planned: list[Planned] = []
    start = 0.0
    for events in scenarios(rng):
        if len(planned) >= originals:
            break
        planned.extend(Planned(start + offset / 1000, e) for offset, e in events)
        start += len(events) / rate
    planned = planned[:originals]
    for original in rng.sample(planned, n - originals):
        planned.append(Planned(original.at_s + rng.uniform(1, 2), original.event, original))
    planned.sort(key=lambda p: p.at_s)
    return planned


def session_key(event: dict) -> bytes:
    return (event.get("session_id") or event.get("user_id") or event["event_id"]).encode()


class Producer(threading.Thread):
    """Sends the planned events on time, each stamped with the wall clock when it goes out
    (a little before it, so the stream is nearly in order), and keeps them in sending order."""

    def __init__(self, bootstrap: str, topic: str, planned: list[Planned], seed: int) -> None:
        super().__init__(name="producer", daemon=True)
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        self.topic = topic
        self.planned = planned
        self.rng = random.Random(seed)
        self.sent: list[dict] = []
        self.failed = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as error:  # reported by the run, which then fails
            self.error = error

    def _run(self) -> None:
        began = time.monotonic()
        futures = []
        for p in self.planned:
            wait = began + p.at_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if p.original is not None:
                p.sent = p.original.sent
            else:
                p.sent = {**p.event, "time": int(time.time() * 1000) - self.rng.randint(0, 300)}
            value = orjson.dumps(p.sent)
            futures.append(self.producer.send(self.topic, key=session_key(p.sent), value=value))
            self.sent.append(p.sent)
        self.producer.flush()
        for future in futures:
            if future.failed():
                self.failed += 1
        self.producer.close()

    def produced(self) -> int:
        return len(self.sent)


# -- reading the broker -----------------------------------------------------------------------


def end_offsets(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        return sum(consumer.end_offsets(tps).values())
    finally:
        consumer.close()


def committed(bootstrap: str, group: str, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return sum(max(meta.offset, 0) for tp, meta in offsets.items() if tp.topic == topic)


def read_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every record value on `topic` up to its end offsets now."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        values: list[bytes] = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=1000).values():
                values.extend(r.value for r in records)
        return values
    finally:
        consumer.close()


def replay_findings(config_path: Path, events: list[dict], clock: dict) -> dict[str, dict]:
    """What `friction replay` finds in `events` then `clock`, by id."""
    lines = b"\n".join(orjson.dumps(e) for e in [*events, clock]) + b"\n"
    out = io.BytesIO()
    replay(io.BytesIO(lines), load_config(config_path), out, io.BytesIO(), source_name="bench")
    findings = (orjson.loads(line) for line in out.getvalue().splitlines())
    return {f["finding_id"]: f for f in findings}


# -- the run ----------------------------------------------------------------------------------


@dataclass
class Figures:
    events: int = 0
    send_failures: int = 0
    kills: int = 0
    broker_restarts: int = 0
    unexpected_exits: int = 0
    in_replay: int = 0
    live: int = 0
    lost: list[dict] = field(default_factory=list)
    extra: list[dict] = field(default_factory=list)
    duplicates: int = 0
    dead_letters: int = 0
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.lost and not self.extra

    def table(self) -> str:
        rows = [
            ("events produced", f"{self.events:,}"),
            ("send failures", f"{self.send_failures:,}"),
            ("worker kills", f"{self.kills}"),
            ("broker restarts", f"{self.broker_restarts}"),
            ("workers exited by themselves", f"{self.unexpected_exits}"),
            ("findings in replay", f"{self.in_replay:,}"),
            ("findings live", f"{self.live:,}"),
            ("lost (in replay, not live)", f"{len(self.lost):,}"),
            ("extra (live, not in replay)", f"{len(self.extra):,}"),
            ("duplicates on the topic", f"{self.duplicates:,}"),
            ("dead letters", f"{self.dead_letters:,}"),
            ("elapsed", f"{self.elapsed_s:.1f} s"),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"  {name:<{width}}  {value:>10}" for name, value in rows]
        for label, findings in (("lost", self.lost), ("extra", self.extra)):
            for f in findings[:10]:
                lines.append(f"  {label}: {describe(f)}")
        return "\n".join(lines)


def describe(finding: dict) -> str:
    return (
        f"{finding['finding_id']} {finding['detector']}/{finding['kind']} "
        f"{finding['subject']} at {finding['time']}"
    )


def plan_chaos(
    rng: random.Random, duration_s: float, kills: int, broker_restarts: int
) -> list[tuple[float, str]]:
    """(seconds into the stream, action) for `kills` kills at random moments at least a
    restart apart, and `broker_restarts` broker restarts at random moments."""
    gap = RESTART_AFTER_S[1] + 0.5
    margin = 3.0
    slack = duration_s - 2 * margin - gap * max(kills - 1, 0)
    if kills and slack < 0:
        need = 2 * margin + gap * (kills - 1)
        raise ValueError(
            f"{kills} kills need a stream of at least {need:.0f} s; "
            f"this one lasts {duration_s:.0f} s (more events or a lower rate)"
        )
    cuts = sorted(rng.uniform(0, slack) for _ in range(kills))
    actions = [(margin + cut + i * gap, "kill") for i, cut in enumerate(cuts)]
    actions += [
        (rng.uniform(margin, duration_s - margin), "broker") for _ in range(broker_restarts)
    ]
    return sorted(actions)


def run(
    broker: LocalKafka,
    home: Path,
    n: int,
    rate: float,
    kills: int,
    broker_restarts: int,
    seed: int,
    session_timeout_s: float = 10.0,
    say: Callable[[str], None] = print,
) -> Figures:
    """Run the whole scenario against `broker` (which it restarts) and compare with replay."""
    began = time.monotonic()
    rng = random.Random(seed)

    def progress(message: str) -> None:
        say(f"[{time.monotonic() - began:6.1f}s] {message}")

    bootstrap = broker.bootstrap
    names = Names()
    config = write_config(home / f"{names.app_id}.toml")
    planned = plan_events(rng, n, rate)
    duration = planned[-1].at_s
    chaos = plan_chaos(rng, duration, kills, broker_restarts)
    figures = Figures()
    workers = [
        Worker(bootstrap, config, names, home / f"{names.app_id}-worker{i}.log", session_timeout_s)
        for i in range(2)
    ]
    producer = Producer(bootstrap, names.input, planned, seed)
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_ready()
        wait_group_stable(bootstrap, names.app_id, 2)
        progress(f"2 workers ready in group {names.app_id}; logs in {home}")

        producer.start()
        stream_began = time.monotonic()
        progress(f"producing {n:,} events at {rate:g}/s over {duration:.0f} s")
        restarts: list[tuple[float, Worker]] = []
        target = rng.randrange(2)
        last_report = 0.0
        while producer.is_alive() or chaos or restarts:
            now = time.monotonic() - stream_began
            for due, worker in list(restarts):
                if due <= now:
                    restarts.remove((due, worker))
                    worker.start()
                    progress(f"restarted {worker.log.stem}")
            # One worker down at a time: when a broker restart held up the plan, the next
            # action waits for the killed worker's restart.
            if chaos and chaos[0][0] <= now and not restarts:
                _, action = chaos.pop(0)
                if action == "kill":
                    worker = workers[target]
                    target = 1 - target
                    worker.kill()
                    figures.kills += 1
                    after = rng.uniform(*RESTART_AFTER_S)
                    restarts.append((now + after, worker))
                    progress(
                        f"kill {figures.kills}: SIGKILL {worker.log.stem}, restart in {after:.1f} s"
                    )
                else:
                    progress("broker: stopping")
                    broker.down()
                    broker.up(timeout=90)
                    figures.broker_restarts += 1
                    progress("broker: up again on the same ports and data")
            figures.unexpected_exits += _restart_exited(workers, restarts, progress)
            if now - last_report >= 10:
                last_report = now
                progress(f"{producer.produced():,} events sent")
            time.sleep(0.05)
        if producer.error is not None:
            raise RuntimeError(f"the producer failed: {producer.error!r}")
        events = producer.sent
        figures.events = len(events)
        figures.send_failures = producer.failed
        last_time = max(e["time"] for e in events)
        progress(f"all {len(events):,} events sent; waiting for the group to read them")

        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        input_end = end_offsets(bootstrap, names.input)
        while committed(bootstrap, input_group(names.app_id), names.input) < input_end:
            figures.unexpected_exits += _restart_exited(workers, [], progress)
            if time.monotonic() > deadline:
                raise RuntimeError("the group did not read all input in time")
            time.sleep(0.5)
        progress("the group has committed all input")
        clock = {"event_id": f"clock-{names.tag}", "type": "heartbeat",
                 "time": last_time + 60_000 + DEFAULT_ALLOWED_LATENESS_MS}  # fmt: skip
        sender = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        sender.send(names.input, key=session_key(clock), value=orjson.dumps(clock)).get(30)
        sender.close()
        # Deadlines fire once ticks move event time past them: allowed lateness after them.
        flushed_at = last_time / 1000 + DEFAULT_ALLOWED_LATENESS_MS / 1000 + LONGEST_DEADLINE_S + 5
        while time.time() < flushed_at:
            figures.unexpected_exits += _restart_exited(workers, [], progress)
            time.sleep(0.5)
        routed_end = end_offsets(bootstrap, names.routed)
        while committed(bootstrap, names.app_id, names.routed) < routed_end:
            if time.monotonic() > deadline + 60:
                raise RuntimeError("the group did not commit its routed messages in time")
            time.sleep(0.5)
        size, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < QUIET_S:
            now_size = end_offsets(bootstrap, names.findings)
            if now_size != size:
                size, quiet_since = now_size, time.monotonic()
            time.sleep(0.5)
        progress(f"findings stopped at {size:,} records; comparing with replay")

        live_values = read_topic(bootstrap, names.findings)
        live_ids = Counter()
        live: dict[str, dict] = {}
        for value in live_values:
            finding = orjson.loads(value)
            live_ids[finding["finding_id"]] += 1
            live[finding["finding_id"]] = finding
        expected = replay_findings(config, events, clock)
        figures.in_replay = len(expected)
        figures.live = len(live)
        figures.lost = [expected[i] for i in sorted(set(expected) - set(live))]
        figures.extra = [live[i] for i in sorted(set(live) - set(expected))]
        figures.duplicates = sum(count - 1 for count in live_ids.values())
        figures.dead_letters = len(read_topic(bootstrap, names.dead_letters))
        figures.elapsed_s = time.monotonic() - began
        return figures
    finally:
        for worker in workers:
            worker.stop()


def _restart_exited(workers: list[Worker], restarts: list, progress) -> int:
    """Start again a worker that exited by itself (not one we killed); how many were."""
    exited = 0
    waiting = {id(worker) for _, worker in restarts}
    for worker in workers:
        if worker.proc is not None and not worker.alive() and id(worker) not in waiting:
            code = worker.proc.returncode
            if code == -signal.SIGKILL:
                continue  # ours, restarted on schedule
            exited += 1
            progress(f"{worker.log.stem} exited by itself (status {code}); starting it again")
            worker.start()
    return exited


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--rate", type=float, default=400, help="events per second")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of a worker")
    parser.add_argument("--broker-restarts", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--session-timeout-s",
        type=float,
        default=10.0,
        help="the workers' group session timeout (Faust's default is 60)",
    )
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="friction-resilience-"))
    broker = LocalKafka(home / "kafka", port=free_port(), controller_port=free_port())
    print(f"starting Kafka in {home} ...", flush=True)
    broker.up(timeout=90)
    try:
        figures = run(
            broker, home, args.events, args.rate, args.kills, args.broker_restarts, args.seed,
            args.session_timeout_s, say=lambda line: print(line, flush=True),
        )  # fmt: skip
    finally:
        broker.down()
    print(figures.table())
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
