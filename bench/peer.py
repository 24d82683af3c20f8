"""The worker against its peers on one pre-loaded topic: bare clients, a bare Faust agent, Quix.

Every peer reads the same events (bench/stream.py's simulated traffic, keyed by session, on a
topic of 4 partitions of a real local broker), in its own process, one after the other; each
round runs them all, and the figures are the median of the rounds, so the machine's noise falls
on every peer alike. A peer's events/s runs from the moment its consumer group is assigned the
input (bare clients: from their first record) until the group has committed every input
offset and every offset of its internal topics (the worker's routed topic, Quix's repartition
topic) that existed then; per CPU-second is events over the process's CPU time in that window.
Every group commits at least every 0.25 s (bench/stream.py `COMMIT_INTERVAL_S`; Quix also every
1,000 messages), so a run's clock stops within that of its last event handled. The events end
with one per input partition past the allowed lateness (bench/stream.py `end_of_input`): the
worker commits a routed message once its items are applied, which needs event time to move on.

- kafka-python / aiokafka / confluent-kafka: bare consumers, read + orjson
  (bench/bare_consumers.py);
- route-aiokafka: the worker's own stage 1 (decode, route, send routed messages, commit) on
  aiokafka's consumer in batches (bench/aiokafka_route.py), against the worker's first stage;
- Faust agent: read + parse + acknowledge (bench/faust_ceiling.py) with stock Faust's record
  delivery, which the worker's consumer replaces with a cheaper one (docs/worker.md, Benchmark);
- Quix Streams: the slow_checkout rule (bench/quix_slow_checkout.py), on the input as keyed,
  and re-keyed by session with `group_by`;
- `friction worker` with slow_checkout only, and with every installed detector; its line also
  gives the worker's own Kafka writes per input event (routed messages, and records of the
  state table's changelog: what a change to batching or to the state's shape moves), and the
  CPU per event of stage 2's process alone (the worker's, without stage 1's child) with the
  share of the clocked time it was busy: a process busy all of it bounds the rate;
- detection alone, every installed detector, no broker, on the same events from a file: as the
  worker runs it (`detect-worker-core`, bench/worker_engine.py: the compiled core, its changed
  records' bytes written by the core once per batch), the most one worker process can reach
  (printed as a bound); the same on engine.py (`detect-worker`, records as plain data), the
  worker where the core is not built; and `friction replay` (`detect-all`), the compiled core
  writing no state;
- with `--batch-size` (500 by default, 0 skips them): the same events on a second topic in batch
  messages (JSON arrays, streams/kafka/batch_producer.py, as `friction send` writes them), read
  by the worker and by Quix (expanded to one row per event, then re-keyed by session).

With `--reference COMMIT`, the worker with every detector also runs with the code of that
commit (extracted as bench/replay extracts its reference), in the same rounds, and its ratio is
printed: a change's effect measured on the same broker and machine load. Given more than once,
each reference runs as `refN-all` (`refN-all-b` on batch messages) and each earlier run is
also compared with each later one: `--reference A --reference B` with A a change and B its
parent prints the change's own ratio. `--profile DIR` samples
every worker run with py-spy into DIR (a speedscope file per run).

Before the clocked rounds, `--warm-up` rounds (1 by default) run every peer once and are not
counted: the broker is a fresh JVM, and its JIT compiler took 0.5 to 1 CPU-second in each of the
first rounds (measured per thread), on the cores the peers run on, mostly while the peers that
write to it ran. Each peer's line also gives the broker's CPU per event in its clocked window:
what its topics written and read again cost on the same machine (Quix reads its input; the
worker also writes and reads its routed topic and writes its changelog).

The ratios printed at the end are the issue's targets. Quix Streams and confluent-kafka are the
`bench` extra (`pip install -e ".[bench]"`); a peer whose package is missing is skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
from friction_detector.detectors.compiled import compiled
from friction_detector.streams.devkit.local_kafka import LocalKafka
from friction_detector.streams.kafka.batch_producer import EventBatcher
from friction_detector.streams.kafka.settings import input_group
from friction_detector.streams.worker.app import STATE_TABLE
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from replay import children_cpu, extract
from stream import (
    COMMIT_INTERVAL_S,
    ROOT,
    cpu_seconds,
    create_topic,
    free_port,
    generate,
    preload,
    proc_stat,
    process_tree,
    worker_command,
)

BENCH = Path(__file__).resolve().parent
SLOW_CHECKOUT_ONLY = '[detectors]\nenable = ["slow_checkout"]\n'


@dataclass
class Result:
    rate: float  # events/s
    cpu_s: float  # CPU seconds the process spent on them
    events: int
    input_rate: float | None = None  # events/s through the first stage, when there are more
    # The worker's own Kafka writes per input event: (routed messages, state changelog records).
    writes: tuple[float, float] | None = None
    # Minor page faults of the process per input event while clocked: a count, not a time, so
    # it says the same on a busy machine (each is kernel time: memory touched for the first time).
    faults: float | None = None
    peak_mb: float | None = None  # the process's peak resident memory when it was done (VmHWM)
    # CPU seconds the broker spent in the same window: the peers share the machine's cores with
    # it, and what a peer asks of it (topics written and read again) is part of its cost.
    broker_cpu_s: float | None = None
    # The CPU seconds of the peer's own process alone (its threads, not its child processes)
    # and the wall seconds it was clocked: a process busy all that time bounds the rate.
    main_cpu_s: float | None = None
    wall_s: float | None = None

    @property
    def per_cpu_s(self) -> float:
        return self.events / self.cpu_s if self.cpu_s > 0 else float("nan")


@dataclass
class Peer:
    name: str  # short, for the ratios
    what: str
    run: Callable[[Path, int], Result]  # (home, round) -> result


def peak_memory_mb(pid: int) -> float:
    """The most resident memory a process and its child processes have had, in MiB (the sum
    of Linux's VmHWM: each process's own peak)."""
    total = 0
    for member in process_tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024 if total else float("nan")


def page_faults(pid: int) -> int:
    """Minor page faults of a process, its threads and its child processes so far (Linux)."""
    return sum(int(proc_stat(member)[7]) for member in process_tree(pid))


def group_offsets(admin: KafkaAdminClient, group: str) -> dict[str, int]:
    """Committed offsets of `group`, summed per topic."""
    totals: dict[str, int] = {}
    for tp, meta in admin.list_group_offsets({group: None}).get(group, {}).items():
        if meta.offset > 0:
            totals[tp.topic] = totals.get(tp.topic, 0) + meta.offset
    return totals


def end_offsets(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(tps).values())
    finally:
        consumer.close()


class Watched:
    """A peer's process, its log, and a clean end to it; `profile`: sampled by py-spy into
    that speedscope file (py-spy is in the `bench` extra)."""

    def __init__(
        self, command: list[str], log: Path, env: dict | None = None, profile: Path | None = None
    ) -> None:
        self.log = log
        self.profiled = profile is not None
        if profile is not None:
            spy = Path(sys.executable).with_name("py-spy")
            command = [str(spy), "record", "--rate", "200", "--format", "speedscope",
                       "-o", str(profile), "--"] + command  # fmt: skip
        out = log.open("ab")
        self.proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env
        )

    @property
    def pid(self) -> int:
        """The peer's own process: py-spy's child when profiled."""
        if self.profiled:
            for _ in range(100):
                for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
                    for child in (task / "children").read_text().split():
                        return int(child)
                time.sleep(0.05)
        return self.proc.pid

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise SystemExit(f"{self.log.name}: process exited:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.profiled and self.proc.poll() is None:  # py-spy writes its profile and exits
            subprocess.run(["kill", "-TERM", str(self.pid)], check=False)
            self.proc.wait(60)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def wait_assigned(admin: KafkaAdminClient, group: str, watched: Watched, timeout: float = 120):
    """Monotonic time once `group` is stable with its members assigned: the clock starts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        watched.check()
        try:
            described = admin.describe_groups([group]).get(group, {})
        except Exception:  # the coordinator may not know the group yet
            described = {}
        if described.get("group_state") == "Stable" and described.get("members"):
            return time.monotonic()
        time.sleep(0.02)
    raise SystemExit(f"{group}: not assigned within {timeout:.0f}s")


def wait_offsets(
    admin: KafkaAdminClient, group: str, topic: str, n: int, watched: Watched
) -> float:
    while group_offsets(admin, group).get(topic, 0) < n:
        watched.check()
        time.sleep(0.05)
    return time.monotonic()


def run_group_peer(
    bootstrap: str,
    command: list[str],
    group: str,
    topic: str,
    n: int,
    log: Path,
    internal: Callable[[list[str]], list[str]] = lambda topics: [],
    env: dict | None = None,
    profile: Path | None = None,
    input_group: str | None = None,
) -> Result:
    """Run a consumer-group process over the `n` events of `topic`, clocked by its commits.

    `internal(topics)` names, among the topics the group committed on, those whose every
    message must be committed too (stages after the first)."""
    messages = end_offsets(bootstrap, topic)  # fewer than `n` on a topic of batch messages
    watched = Watched(command, log, env, profile)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        reader = input_group or group
        started = wait_assigned(admin, reader, watched)
        cpu, faults = cpu_seconds(watched.pid), page_faults(watched.pid)
        main_cpu = own_cpu_seconds(watched.pid)
        broker_cpu = _broker_cpu_seconds()
        input_done = wait_offsets(admin, reader, topic, messages, watched)
        done = input_done
        for name in internal(list(group_offsets(admin, group))):
            done = wait_offsets(admin, group, name, end_offsets(bootstrap, name), watched)
        cpu = cpu_seconds(watched.pid) - cpu
        main_cpu = own_cpu_seconds(watched.pid) - main_cpu
        faults = page_faults(watched.pid) - faults
        broker_cpu = _broker_cpu_seconds() - broker_cpu
        input_rate = n / (input_done - started) if done > input_done else None
        return Result(
            n / (done - started), cpu, n, input_rate,
            faults=faults / n, peak_mb=peak_memory_mb(watched.pid), broker_cpu_s=broker_cpu,
            main_cpu_s=main_cpu, wall_s=done - started,
        )  # fmt: skip
    finally:
        admin.close()
        watched.stop()


_broker_pid: list[int] = []  # the bench's broker, once it is up


def own_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process and its threads, without its child processes."""
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _broker_cpu_seconds() -> float:
    return cpu_seconds(_broker_pid[0]) if _broker_pid else 0.0


def preload_batches(
    bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]], size: int
) -> int:
    """The events in batch messages, as `friction send` writes them; returns messages sent."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=1 << 20)
    batcher = EventBatcher(producer, topic, max_events=size, max_age_s=float("inf"))
    for key, value in messages:
        batcher.add(value, key)
    batcher.flush()
    producer.close()
    return batcher.sent_messages


# -- the peers ------------------------------------------------------------------------------


def reported(command: list[str], n: int, timeout: float = 600) -> Result:
    """Run a bench script that times itself and prints one JSON line: its rate and CPU."""
    out = subprocess.run(command, capture_output=True, check=True, cwd=ROOT, timeout=timeout)
    doc = orjson.loads(out.stdout.splitlines()[-1])
    return Result(doc["rate"], doc["cpu_s"], n)


def bare(bootstrap: str, topic: str, n: int, client: str) -> Callable[[Path, int], Result]:
    def run(home: Path, round_: int) -> Result:
        script = str(BENCH / "bare_consumers.py")
        return reported([sys.executable, script, client, bootstrap, topic, str(n)], n)

    return run


def route_aiokafka(bootstrap: str, topic: str, n: int) -> Callable[[Path, int], Result]:
    """The worker's stage 1 (its `RouteStage`: decode, route, send routed messages, commit)
    on aiokafka's consumer in batches (bench/aiokafka_route.py), into a routed topic of its own."""

    def run(home: Path, round_: int) -> Result:
        routed = f"route-aiokafka-{uuid.uuid4().hex[:6]}-routed"
        create_topic(bootstrap, routed, 4)
        script = str(BENCH / "aiokafka_route.py")
        return reported([sys.executable, script, bootstrap, topic, str(n), routed], n, 900)

    return run


def worker_engine(events: Path, n: int, core: bool = False) -> Callable[[Path, int], Result]:
    """Detection as the worker's stage 2 runs it (each changed record serialized once per batch)
    on the same events from a file, no broker (bench/worker_engine.py): on engine.py (records as
    plain data, the worker where the core is not built), or with `core` on the compiled core
    (its changed records' bytes written by the core), the worker's engine: what a worker process
    can reach at most, however cheap its Kafka handling becomes."""

    def run(home: Path, round_: int) -> Result:
        command = [sys.executable, str(BENCH / "worker_engine.py"), str(events)]
        return reported(command + (["--core"] if core else []), n)

    return run


def detection_only(events: Path, config: Path) -> Callable[[Path, int], Result]:
    """`friction replay` of the same events from a file: the compiled detection core with the
    same detectors and no broker, in one process, writing no state (the worker writes each
    changed record, `worker_engine`). The rate is replay's
    own (its summary line, from its first line read, so start-up is left out as for the group
    peers); CPU is the whole process's, start-up included, so per CPU-second is slightly
    understated."""

    def run(home: Path, round_: int) -> Result:
        command = [
            sys.executable, "-m", "friction_detector.streams.cli.main", "--config", str(config),
            "replay", str(events), "--findings", os.devnull,
        ]  # fmt: skip
        before = children_cpu()
        out = subprocess.run(command, capture_output=True, check=True, cwd=ROOT, timeout=600)
        cpu = children_cpu() - before
        read = REPLAY_SUMMARY.search(out.stderr.decode())
        if read is None:
            raise SystemExit(f"replay printed no summary line:\n{out.stderr.decode()[-2000:]}")
        lines, seconds = int(read["lines"]), float(read["seconds"])
        return Result(lines / seconds, cpu, lines)

    return run


# The summary line of `friction replay` (streams/cli/summary.py).
REPLAY_SUMMARY = re.compile(r"lines read: (?P<lines>\d+) in (?P<seconds>[\d.]+) s")


def faust_agent(bootstrap: str, topic: str, n: int) -> Callable[[Path, int], Result]:
    def run(home: Path, round_: int) -> Result:
        app_id = f"faust-agent-{uuid.uuid4().hex[:6]}"
        env = {
            **os.environ,
            "FRICTION_BENCH_BROKER": f"kafka://{bootstrap}",
            "FRICTION_BENCH_TOPIC": topic,
            "FRICTION_BENCH_APP_ID": app_id,
            "FRICTION_BENCH_DATA_DIR": str(home / app_id),
            "FRICTION_BENCH_COMMIT_INTERVAL_S": str(COMMIT_INTERVAL_S),
        }
        command = [sys.executable, str(BENCH / "faust_ceiling.py"), "worker", "-l", "info"]
        return run_group_peer(bootstrap, command, app_id, topic, n, home / f"{app_id}.log",
                              env=env)  # fmt: skip

    return run


def quix(
    bootstrap: str, topic: str, n: int, group_by: bool, batches: bool = False
) -> Callable[[Path, int], Result]:
    def run(home: Path, round_: int) -> Result:
        group = f"quix-{uuid.uuid4().hex[:6]}"
        command = [
            sys.executable, str(BENCH / "quix_slow_checkout.py"), bootstrap, topic, group,
            str(home / group), f"{group}-findings", str(COMMIT_INTERVAL_S),
        ] + (["--group-by"] if group_by else []) + (["--batches"] if batches else [])  # fmt: skip

        def repartition(topics: list[str]) -> list[str]:
            return [t for t in topics if t != topic and "repartition" in t]

        return run_group_peer(bootstrap, command, group, topic, n, home / f"{group}.log",
                              internal=repartition)  # fmt: skip

    return run


def worker(
    bootstrap: str,
    topic: str,
    n: int,
    config: Path,
    profile: Path | None = None,
    env: dict | None = None,
) -> Callable[[Path, int], Result]:
    def run(home: Path, round_: int) -> Result:
        app_id = f"worker-{uuid.uuid4().hex[:6]}"
        log = home / f"{app_id}.log"
        spy = None if profile is None else profile / f"{app_id}.speedscope.json"
        # The command bench/stream runs, clocked like every other peer.
        command = worker_command(bootstrap, app_id, topic, f"{app_id}-findings", config, home)
        result = run_group_peer(
            bootstrap, command, app_id, topic, n, log,
            internal=lambda topics: [f"{app_id}-routed"], env=env, profile=spy,
            input_group=input_group(app_id),
        )  # fmt: skip
        routed = end_offsets(bootstrap, f"{app_id}-routed")
        changelog = end_offsets(bootstrap, f"{app_id}-{STATE_TABLE}-changelog")
        result.writes = routed / n, changelog / n
        return result

    return run


# -- the report -----------------------------------------------------------------------------

# (numerator, denominator, target): the targets, by peer name.
TARGETS = [
    ("worker-all", "faust-agent", 0.6),
    ("worker-slow", "faust-agent", 0.8),
    ("worker-all", "quix", 1.0),
    ("worker-slow", "quix", 1.0),
    ("worker-all", "quix-group-by", 1.0),
    ("worker-all-b", "faust-agent", 0.6),
    ("worker-slow-b", "faust-agent", 0.8),
    ("worker-all-b", "quix", 1.0),
    ("worker-all-b", "quix-batches", 1.0),
]
# (numerator, denominator, what it bounds): detection alone against a peer, the most any one
# worker process with this engine could reach against it.
BOUNDS = [
    ("detect-worker-core", "quix", "the most one worker process reaches of worker-all(-b) / quix"),
    ("detect-worker", "quix", "the same on engine.py (a worker where the core is not built)"),
    ("detect-all", "quix", "detection alone in the compiled core, writing no state"),
    ("aiokafka", "faust-agent", "what reading input in batches with Faust's own client leaves"),
    ("route-aiokafka", "faust-agent", "the worker's stage 1 on that client, against Faust's path"),
]


def against_references(count: int) -> list[tuple[str, str]]:
    """(numerator, denominator): this checkout against each reference commit (`--reference`),
    then each reference against the ones given after it (e.g. a change on and off)."""
    runs = ["worker"] + [f"ref{index}" for index in range(1, count + 1)]
    return [
        (f"{a}-all{shape}", f"{b}-all{shape}")
        for i, a in enumerate(runs)
        for b in runs[i + 1 :]
        for shape in ("-b", "")
    ]


def report(peers: list[Peer], results: dict[str, list[Result]], references: int) -> None:
    """Medians per peer, then the targets' ratios of events/s and of events per CPU-second."""
    width = max(len(peer.name) for peer in peers)
    print(f"\n{'peer':<{width}} {'events/s':>9} {'per CPU-s':>10}  {'runs (events/s)':<26} what")
    medians: dict[str, tuple[float, float]] = {}
    for peer in peers:
        runs = results[peer.name]
        rate = statistics.median(r.rate for r in runs)
        per_cpu = statistics.median(r.per_cpu_s for r in runs)
        medians[peer.name] = rate, per_cpu
        spread = ", ".join(f"{r.rate:,.0f}" for r in runs)
        stage1 = [r.input_rate for r in runs if r.input_rate is not None]
        what = peer.what
        if stage1:
            what += f" [first stage {statistics.median(stage1):,.0f}/s]"
        mains = [r for r in runs if r.main_cpu_s is not None and r.wall_s and stage1]
        if mains:
            per_event = statistics.median(r.main_cpu_s / r.events for r in mains)
            busy = statistics.median(r.main_cpu_s / r.wall_s for r in mains)
            what += f" [stage 2's process {per_event * 1e6:.1f} µs CPU per event, {busy:.0%} busy]"
        writes = [r.writes for r in runs if r.writes is not None]
        if writes:
            routed = statistics.median(w[0] for w in writes)
            changelog = statistics.median(w[1] for w in writes)
            what += f" [per event: {routed:.3f} routed messages, {changelog:.2f} state records]"
        faults = [r.faults for r in runs if r.faults is not None]
        if faults:
            what += f" [{statistics.median(faults):.2f} page faults per event]"
        broker = [r.broker_cpu_s / r.events for r in runs if r.broker_cpu_s is not None]
        if broker:
            what += f" [broker {statistics.median(broker) * 1e6:.1f} µs CPU per event]"
        peaks = [r.peak_mb for r in runs if r.peak_mb is not None]
        if peaks:
            what += f" [peak memory {statistics.median(peaks):,.0f} MiB]"
        print(f"{peer.name:<{width}} {rate:>9,.0f} {per_cpu:>10,.0f}  {spread:<26} {what}")

    def ratio(a: str, b: str, remark: Callable[[float], str] = lambda rate: "") -> None:
        """One line: `a`'s events/s and per CPU-second over `b`'s, and `remark` on the rate."""
        if a in medians and b in medians:
            rate = medians[a][0] / medians[b][0]
            cpu = medians[a][1] / medians[b][1]
            print(f"{a + ' / ' + b:<30} {rate:>9.2f} {cpu:>10.2f}{remark(rate)}")

    print(f"\n{'ratio':<30} {'events/s':>9} {'per CPU-s':>10} {'target':>7}")
    for a, b, target in TARGETS:
        ratio(a, b, lambda rate, t=target: f" {t:>7.1f}  {'met' if rate >= t else 'not met'}")
    for a, b, bound in BOUNDS:
        ratio(a, b, lambda rate, what=bound: f" {'':>7}  {what}")
    for a, b in against_references(references):
        ratio(a, b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="runs of every peer; medians")
    parser.add_argument(
        "--only", action="append", default=[], help="run only this peer (repeatable)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=500,
        help="also run the worker on the same events in batch messages of up to this many "
        "(0: skip)",
    )
    parser.add_argument(
        "--reference",
        metavar="COMMIT",
        action="append",
        default=[],
        help="also run the worker (every detector) with the code of this commit: ref1-all, "
        "ref1-all-b (repeatable: ref2-..., each pair of runs gets its ratio)",
    )
    parser.add_argument(
        "--warm-up",
        type=int,
        default=1,
        help="rounds of every peer run first and not counted: a fresh broker compiles its "
        "produce and fetch paths meanwhile (0: none)",
    )
    parser.add_argument(
        "--profile", type=Path, help="py-spy profiles of the worker runs, one file each, here"
    )
    args = parser.parse_args()
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)

    home = Path(tempfile.mkdtemp(prefix="friction-peer-"))
    broker = LocalKafka(home / "kafka", port=free_port(), controller_port=free_port())
    print(f"starting Kafka in {home} ...", file=sys.stderr, flush=True)
    broker.up(timeout=90)
    if broker.pid is not None:
        _broker_pid.append(broker.pid)
    try:
        bootstrap = broker.bootstrap
        topic = "peer-events"
        create_topic(bootstrap, topic, 4)
        messages = generate(args.events)
        took = preload(bootstrap, topic, messages)
        n = len(messages)
        size = sum(len(v) for _, v in messages) / n
        print(f"pre-loaded {n:,} events ({size:.0f} B avg), keyed by session, in {took:.1f}s")
        batched = "peer-batches"
        if args.batch_size:
            create_topic(bootstrap, batched, 4)
            sent = preload_batches(bootstrap, batched, messages, args.batch_size)
            print(f"pre-loaded the same events in {sent:,} batch messages of up to "
                  f"{args.batch_size} (streams/kafka/batch_producer.py)")  # fmt: skip
        slow_only = home / "slow_checkout.toml"
        slow_only.write_text(SLOW_CHECKOUT_ONLY)
        every = home / "every.toml"
        every.write_text("")
        events = home / "events.jsonl"
        events.write_bytes(b"".join(value + b"\n" for _, value in messages))

        peers = [
            Peer("kafka-python", "bare kafka-python consumer: read + orjson",
                 bare(bootstrap, topic, n, "kafka-python")),
            Peer("aiokafka", "bare aiokafka consumer (Faust's client), getmany: read + orjson",
                 bare(bootstrap, topic, n, "aiokafka")),
            Peer("confluent-kafka", "bare confluent-kafka consumer: read + orjson",
                 bare(bootstrap, topic, n, "confluent-kafka")),
            Peer("faust-agent", "bare Faust agent: read + parse + ack",
                 faust_agent(bootstrap, topic, n)),
            Peer("quix", "Quix Streams, slow_checkout rule, input keyed by session",
                 quix(bootstrap, topic, n, group_by=False)),
            Peer("quix-group-by", "Quix Streams, slow_checkout rule, group_by session",
                 quix(bootstrap, topic, n, group_by=True)),
            Peer("worker-slow", "friction worker, slow_checkout only",
                 worker(bootstrap, topic, n, slow_only, args.profile)),
            Peer("worker-all", "friction worker, every installed detector",
                 worker(bootstrap, topic, n, every, args.profile)),
            Peer("worker-all-inline", "friction worker, every installed detector, stage 1 in "
                 "the worker's process (--input-stage inline)",
                 worker(bootstrap, topic, n, every, env={**os.environ,
                                                         "FRICTION_INPUT_STAGE": "inline"})),
            Peer("detect-worker", "the worker's stage 2 on engine.py over the same events, every "
                 "installed detector, no broker", worker_engine(events, n)),
            Peer("detect-worker-core", "the same on the compiled core (the worker's engine), "
                 "its changed records' bytes written by the core",
                 worker_engine(events, n, core=True)),
            Peer("detect-all", "friction replay of the same events, every installed detector, "
                 "no broker", detection_only(events, every)),
            Peer("route-aiokafka", "the worker's stage 1, every installed detector, on aiokafka's "
                 "consumer in batches", route_aiokafka(bootstrap, topic, n)),
        ]  # fmt: skip
        # (peer name suffix, topic, description) of each input shape a reference runs on.
        shapes = [("", topic, "")]
        if args.batch_size:
            shapes.append(("-b", batched, ", batch messages"))
        for index, commit in enumerate(args.reference, 1):
            ref_env = extract(commit, Path(tempfile.mkdtemp(prefix="friction-ref-")))
            peers += [
                Peer(
                    f"ref{index}-all{suffix}",
                    f"friction worker at {commit[:10]}, every detector{shape}",
                    worker(bootstrap, source, n, every, env=ref_env),
                )
                for suffix, source, shape in shapes
            ]
        if args.batch_size:
            peers += [
                Peer("quix-batches", "Quix Streams, slow_checkout rule, batch messages: expand "
                     "+ group_by session", quix(bootstrap, batched, n, True, batches=True)),
                Peer("worker-slow-b", "friction worker, slow_checkout only, batch messages",
                     worker(bootstrap, batched, n, slow_only, args.profile)),
                Peer("worker-all-b", "friction worker, every installed detector, batch messages",
                     worker(bootstrap, batched, n, every, args.profile)),
            ]  # fmt: skip
        unknown = sorted(set(args.only) - {p.name for p in peers})
        if unknown:
            names = ", ".join(p.name for p in peers)
            print(f"bench/peer: no peer named {', '.join(unknown)} (peers: {names})",
                  file=sys.stderr)  # fmt: skip
            return 2
        missing = [m for m in ("confluent_kafka", "quixstreams") if not importlib.util.find_spec(m)]
        if missing:
            print(f"not installed (pip install -e '.[bench]'): {', '.join(missing)}; skipped")
            skip = {"confluent_kafka": "confluent-kafka", "quixstreams": "quix"}
            peers = [p for p in peers if not any(p.name.startswith(skip[m]) for m in missing)]
        if not compiled():
            print("the compiled core is not built (it needs cargo): detect-worker-core skipped")
            peers = [p for p in peers if p.name != "detect-worker-core"]
        if args.only:
            peers = [p for p in peers if p.name in args.only]

        for round_ in range(1, args.warm_up + 1):
            for peer in peers:
                print(f"warm-up {round_}/{args.warm_up} (not counted): {peer.name} ...",
                      end=" ", flush=True)  # fmt: skip
                print(f"{peer.run(home, 0).rate:,.0f} events/s", flush=True)
        results: dict[str, list[Result]] = {p.name: [] for p in peers}
        for round_ in range(1, args.rounds + 1):
            for peer in peers:
                print(f"round {round_}/{args.rounds}: {peer.name} ...", end=" ", flush=True)
                result = peer.run(home, round_)
                results[peer.name].append(result)
                note = f" (first stage {result.input_rate:,.0f}/s)" if result.input_rate else ""
                print(f"{result.rate:,.0f} events/s, {result.per_cpu_s:,.0f} per CPU-s{note}",
                      flush=True)  # fmt: skip
        report(peers, results, len(args.reference))
    finally:
        broker.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
