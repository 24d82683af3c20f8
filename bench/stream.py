"""Streaming benchmark through a real broker: worker throughput, end-to-end latency, ceiling.

1. ceilings: a bare kafka-python consumer that reads and parses the pre-loaded events, and a
   bare Faust agent (bench/faust_ceiling.py) that reads, parses and acknowledges them, which
   stock Faust's per-message path (the worker's consumer delivers records more cheaply);
2. throughput: one `friction worker` with every installed detector catches up on the same
   events; the clock runs from "Worker ready" until its group has committed all of them;
3. latency: with a worker live (allowed lateness 0, background traffic moving event time), a
   slow checkout load is produced every 1/rate s; latency is from producing it to reading its
   finding on the findings topic. A production worker adds its allowed lateness on top.
   `--latency-load 0.5` sets that rate to half the capacity the throughput run measured, so
   one run says whether latency holds under load; each load event is one send of
   confluent-kafka where the bench extra is installed (a C client: the generator shares the
   cores with the broker and the worker), otherwise of kafka-python.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

ROOT = Path(__file__).resolve().parent.parent
# How often every group the benchmarks clock commits its offsets, in seconds (the worker's
# `--commit-interval-s`; bench/peer.py gives the Faust agent and Quix the same).
COMMIT_INTERVAL_S = 0.25
sys.path.insert(0, str(ROOT))

from friction_detector.streams import kept_json  # noqa: E402
from friction_detector.streams.devkit.local_kafka import LocalKafka  # noqa: E402
from friction_detector.streams.devkit.simulate import Traffic  # noqa: E402
from friction_detector.streams.kafka.batch_producer import EventBatcher  # noqa: E402
from friction_detector.streams.kafka.settings import input_group  # noqa: E402
from friction_detector.streams.worker.partition_store import own_key  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The input topic's partitions, and an end-of-input event's lead on the last event: more than
# the default allowed lateness (30 s), so that every event read is past the watermark.
INPUT_PARTITIONS = 4
END_LEAD_MS = 31_000


def generate(n: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    """`n` events of simulated traffic (5% incidents) ending a minute ago, in event-time order,
    then the end of the input (`end_of_input`)."""
    traffic = Traffic(random.Random(seed), incident_rate=0.05)
    start = int(time.time() * 1000) - 3_600_000
    t = start
    while len(traffic.heap) < n * 1.3:
        traffic.start_scenario(t)
        t += 40
    events = [e for _, _, e in sorted(traffic.heap)][:n]
    out = []
    for e in events:
        key = (e.get("session_id") or e.get("user_id") or e["event_id"]).encode()
        out.append((key, kept_json.dumps(e)))  # kept for the whole run
    return out + end_of_input(events[-1]["time"] + END_LEAD_MS)


def end_of_input(time_ms: int, partitions: int = INPUT_PARTITIONS) -> list[tuple[bytes, bytes]]:
    """One event per input partition at `time_ms`, of a type no detector reads: as when a
    stream goes on, every input partition's event time then passes every event before it, so a
    worker applies everything it read and commits it (it commits a routed message only once its
    items are applied), and the benchmark's clock, which stops at that commit, measures it."""
    keys = [own_key("end-of-input-", partition, partitions) for partition in range(partitions)]
    return [
        (key.encode(), kept_json.dumps({"event_id": key, "type": "bench_end_of_input",
                                        "time": time_ms, "user_id": None, "session_id": None,
                                        "attrs": {}}))
        for key in keys
    ]  # fmt: skip


def preload(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=512 * 1024
    )
    started = time.monotonic()
    for key, value in messages:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()
    return time.monotonic() - started


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, partitions, 1)])
    admin.close()


def ceiling(bootstrap: str, topic: str, n: int) -> float:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=2000,
        fetch_max_bytes=64 << 20,
    )
    seen = 0
    started = None
    while seen < n:
        for records in consumer.poll(timeout_ms=1000).values():
            if started is None:
                started = time.monotonic()
            for record in records:
                orjson.loads(record.value)
            seen += len(records)
    elapsed = time.monotonic() - started
    consumer.close()
    return n / elapsed


def faust_ceiling(bootstrap: str, topic: str, n: int, home: Path) -> float:
    """Events/s of bench/faust_ceiling.py, from "Worker ready" until its group committed all."""
    app_id = f"faust-ceiling-{uuid.uuid4().hex[:6]}"
    log = home / f"{app_id}.log"
    env = {
        **os.environ,
        "FRICTION_BENCH_BROKER": f"kafka://{bootstrap}",
        "FRICTION_BENCH_TOPIC": topic,
        "FRICTION_BENCH_APP_ID": app_id,
        "FRICTION_BENCH_DATA_DIR": str(home / app_id),
        "FRICTION_BENCH_COMMIT_INTERVAL_S": str(COMMIT_INTERVAL_S),
    }
    command = [sys.executable, str(ROOT / "bench" / "faust_ceiling.py"), "worker", "-l", "info"]
    proc = subprocess.Popen(command, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    try:
        ready = wait_ready(log, proc)
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        done = wait_committed(admin, app_id, topic, n, watch=(proc, log))
        admin.close()
        return n / (done - ready)
    finally:
        proc.terminate()
        proc.wait(30)


def worker_command(
    bootstrap: str, app_id: str, topic: str, findings: str, config: Path, home: Path
) -> list[str]:
    """The `friction worker` command line every benchmark runs, its data under `home`.

    The benchmarks' clocks stop at the group's commits, so the worker commits every
    `COMMIT_INTERVAL_S`: at its default (2.8 s) a run's last commit came up to 2.8 s after its
    last event was handled, which on a 100,000-event run was a third of the time measured."""
    return [
        sys.executable, "-m", "friction_detector.streams.cli.main",
        "--config", str(config), "worker",
        "--broker", f"kafka://{bootstrap}", "--app-id", app_id, "--input-topic", topic,
        "--findings-topic", findings, "--metrics-port", "0", "--log-level", "INFO",
        "--idle-advance-s", "2", "--data-dir", str(home / "worker-data"),
        "--commit-interval-s", str(COMMIT_INTERVAL_S),
    ]  # fmt: skip


def start_worker(
    bootstrap: str,
    app_id: str,
    topic: str,
    findings: str,
    config: Path,
    log: Path,
    profile: Path | None = None,
):
    prefix = []
    if profile is not None:  # sample the worker with py-spy (pip install py-spy)
        spy = Path(sys.executable).with_name("py-spy")
        prefix = [str(spy), "record", "--rate", "200", "--format", "speedscope",
                  "-o", str(profile), "--"]  # fmt: skip
    args = prefix + worker_command(bootstrap, app_id, topic, findings, config, log.parent)
    out = log.open("ab")
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


# What Faust logs once a worker's tables are recovered and its agents run.
READY_LINE = b"Worker ready"


def wait_ready(log: Path, proc: subprocess.Popen, timeout: float = 90) -> float:
    return wait_all_ready([(proc, log)], timeout)[0]


def wait_all_ready(procs: list[tuple[subprocess.Popen, Path]], timeout: float = 90) -> list[float]:
    """When each worker logged "Worker ready", watched together: waiting for them one after
    another would time a worker that was ready first when the one before it in the list was."""
    deadline = time.monotonic() + timeout
    ready: dict[int, float] = {}
    while len(ready) < len(procs):
        if time.monotonic() > deadline:
            raise SystemExit("worker not ready")
        for i, (proc, log) in enumerate(procs):
            if i in ready:
                continue
            if proc.poll() is not None:
                raise SystemExit(f"worker exited:\n{log.read_text()[-3000:]}")
            if READY_LINE in log.read_bytes():
                ready[i] = time.monotonic()
        time.sleep(0.05)
    return [ready[i] for i in range(len(procs))]


def committed(admin: KafkaAdminClient, group: str, topic: str) -> int:
    offsets = admin.list_group_offsets({group: None}).get(group, {})
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


def wait_committed(
    admin: KafkaAdminClient,
    group: str,
    topic: str,
    n: int,
    watch: tuple[subprocess.Popen, Path] | None = None,
) -> float:
    """Monotonic time once `group` has committed `n` offsets of `topic`; the benchmark ends
    with its log if the `watch`ed process exits first."""
    while committed(admin, group, topic) < n:
        if watch is not None and watch[0].poll() is not None:
            raise SystemExit(f"{watch[1].name}: process exited:\n{watch[1].read_text()[-3000:]}")
        time.sleep(0.1)
    return time.monotonic()


def throughput(
    bootstrap: str,
    topic: str,
    n: int,
    config: Path,
    home: Path,
    profile: Path | None = None,
    workers: int = 1,
) -> tuple[float, float]:
    """Events/s through stage 1 and until detection committed everything, for `workers`
    processes in one group started together; the clock starts when the first is ready."""
    app_id = f"bench-{uuid.uuid4().hex[:6]}"
    procs = []
    for i in range(workers):
        log = home / f"{app_id}-{i}.log"
        findings = f"{app_id}-findings"
        procs.append((start_worker(bootstrap, app_id, topic, findings, config, log, profile), log))
    try:
        ready = min(wait_all_ready(procs))
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        input_done = wait_committed(admin, input_group(app_id), topic, n)
        routed = f"{app_id}-routed"
        consumer = KafkaConsumer(bootstrap_servers=bootstrap)
        from kafka import TopicPartition

        tps = [TopicPartition(routed, p) for p in consumer.partitions_for_topic(routed)]
        end = sum(consumer.end_offsets(tps).values())
        # Ticks may add a few messages after input ends: stop at the end seen now.
        all_done = wait_committed(admin, app_id, routed, end)
        consumer.close()
        admin.close()
        cpus = [cpu_seconds(_worker_pid(proc, profile is not None)) for proc, _ in procs]
        cpu = sum(cpus)
        print(
            f"  {end:,} routed messages; worker CPU {cpu:.1f} s over "
            f"{all_done - ready:.1f} s wall ({cpu / (all_done - ready):.0%})"
        )
        if workers > 1:
            print_readiness([log for _, log in procs], cpus)
        return n / (input_done - ready), n / (all_done - ready)
    finally:
        for proc, _ in procs:
            if profile is not None:  # stop the worker: py-spy then writes its profile and exits
                for task in Path(f"/proc/{proc.pid}/task").iterdir():
                    for child in (task / "children").read_text().split():
                        subprocess.run(["kill", "-TERM", child], check=False)
                proc.wait(60)
            else:
                proc.terminate()
                proc.wait(30)


_READY = re.compile(rb"^\[([0-9 :,-]+)\] .*" + re.escape(READY_LINE), re.MULTILINE)


def ready_times(log: Path) -> list[float]:
    """When a worker logged "Worker ready" (s since the epoch): once at its start, and again
    after each rebalance whose table recovery its stage 2 waited for."""
    return [
        datetime.strptime(stamp.decode(), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for stamp in _READY.findall(log.read_bytes())
    ]


def print_readiness(logs: list[Path], cpus: list[float]) -> None:
    """Each worker's readiness against the first one's, and its CPU: a member that joins late,
    or a recovery after the rebalance it causes, is what a group's rate loses to."""
    times = [ready_times(log) for log in logs]
    first = min((t[0] for t in times if t), default=0.0)
    for i, (ready, cpu) in enumerate(zip(times, cpus, strict=True)):
        moments = ", ".join(f"+{t - first:.1f} s" for t in ready) or "never"
        print(f"  worker {i}: ready at {moments}; CPU {cpu:.1f} s")


def _worker_pid(proc: subprocess.Popen, profiled: bool) -> int:
    if not profiled:
        return proc.pid
    for task in Path(f"/proc/{proc.pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            return int(child)
    return proc.pid


def proc_stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command's name (Linux): counted from 0, the
    state is field 0, minor page faults field 7, user and system CPU ticks fields 11 and 12."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants (Linux): the worker runs stage 1 in a child process."""
    tree, i = [pid], 0
    while i < len(tree):
        for task in Path(f"/proc/{tree[i]}/task").glob("*/children"):
            tree += [int(child) for child in task.read_text().split()]
        i += 1
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, its threads and its live child processes (Linux)."""
    ticks = 0
    for member in process_tree(pid):
        fields = proc_stat(member)
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


LATENCY_TARGET_MS = 300  # p99, produce to finding, at lateness 0
WARM_UP_S = 2.0  # the loads of a live run's first seconds are reported apart
# Each completing event comes with this many background events that move event time.
BACKGROUND_PER_COMPLETING = 16


class LoadSender:
    """One send per event, as cheap as the machine allows: the load shares the cores with the
    broker and the worker, so a generator that spends a core of its own caps the load it can
    put on the worker. confluent-kafka (the bench extra) produces from C; without it, the run's
    kafka-python producer (`fallback`, the caller's to close) sends."""

    def __init__(self, bootstrap: str, topic: str, fallback: KafkaProducer) -> None:
        self.topic = topic
        self.fallback = fallback
        try:
            from confluent_kafka import Producer
        except ImportError:
            self.producer = None
        else:
            # linger.ms 5 is librdkafka's default, as a collector's producer has it: at 0 every
            # send was a request of its own, and at half the worker's capacity the broker spent
            # 1.2 to 1.5 cores on them, which the worker, sharing the machine, then lacked.
            self.producer = Producer(
                {"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 5,
                 "log.connection.close": False}  # the broker closes idle connections
            )  # fmt: skip

    def send(self, key: bytes, value: bytes) -> None:
        if self.producer is None:
            self.fallback.send(self.topic, key=key, value=value)
        else:
            self.producer.produce(self.topic, value=value, key=key)
            self.producer.poll(0)  # serve delivery reports, so the local queue never fills

    def close(self) -> None:
        """Send what the C producer holds, then let it go: it would retry the broker once
        the broker is down."""
        if self.producer is not None:
            self.producer.flush(30)
            self.producer = None


@dataclass
class LatencyRun:
    """Seconds from producing each slow load to reading its finding, sorted, split at the
    warm-up: a worker that just started meets the load with cold connections and code paths."""

    warm_up: list[float]  # loads produced in the first WARM_UP_S seconds
    steady: list[float]
    load_rate: float  # events/s the load reached


def latency(
    bootstrap: str, config: Path, home: Path, rate: float, seconds: float, batched: bool = False
) -> LatencyRun:
    """Run the latency load against a live worker. `batched`: the events go in batch messages
    through the producer helper, as `friction send` and `simulate` send them, its batches
    closed by age every 10 ms as a collector's timer would."""
    app_id = f"lat-{uuid.uuid4().hex[:6]}"
    topic, findings = f"{app_id}-events", f"{app_id}-findings"
    log = home / f"{app_id}.log"
    create_topic(bootstrap, topic, 4)
    proc = start_worker(bootstrap, app_id, topic, findings, config, log)
    sent: dict[str, float] = {}
    latencies: list[tuple[float, float]] = []  # (produced at, latency)
    stop = threading.Event()
    try:
        wait_ready(log, proc)
        reader = KafkaConsumer(
            findings, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        reader.poll(timeout_ms=500)

        def read() -> None:
            while not stop.is_set() or len(latencies) < len(sent):
                for records in reader.poll(timeout_ms=200).values():
                    now = time.monotonic()
                    for record in records:
                        session = orjson.loads(record.value).get("session_id")
                        if session in sent:
                            latencies.append((sent[session], now - sent[session]))
                if stop.is_set() and time.monotonic() > stop_time + 15:
                    break

        stop_time = float("inf")
        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
        batcher = EventBatcher(producer, topic) if batched else None
        one_by_one = None if batched else LoadSender(bootstrap, topic, producer)
        produced = 0

        def send(key: bytes, event: dict) -> None:
            nonlocal produced
            produced += 1
            if batcher is not None:
                batcher.add(orjson.dumps(event), key)
            else:
                assert one_by_one is not None
                one_by_one.send(key, orjson.dumps(event))

        def wait(seconds: float) -> None:
            until = time.monotonic() + seconds
            while (left := until - time.monotonic()) > 0:
                time.sleep(min(left, 0.01))
                if batcher is not None:
                    batcher.close_due()

        rng = random.Random(3)
        began = time.monotonic()
        i = 0
        while time.monotonic() - began < seconds:
            now_ms = int(time.time() * 1000)
            session = f"slow-{i}"
            slow = {
                "event_id": f"slow-{i}", "type": "page_load", "time": now_ms,
                "session_id": session,
                "attrs": {"page": "/checkout/payment", "duration_ms": 9000},
            }  # fmt: skip
            send(session.encode(), slow)
            sent[session] = time.monotonic()
            # Later events on every partition move event time past it (lateness 0).
            for b in range(BACKGROUND_PER_COMPLETING):
                bg = {
                    "event_id": f"bg-{i}-{b}", "type": "page_load", "time": now_ms + 1,
                    "session_id": f"bg-{rng.getrandbits(32):08x}",
                    "attrs": {"page": "/checkout/cart", "duration_ms": 300},
                }  # fmt: skip
                send(bg["session_id"].encode(), bg)
            i += 1
            wait(began + i / rate - time.monotonic())  # on schedule, whatever a send cost
        load_rate = produced / (time.monotonic() - began)
        # Keep event time moving so the last completing events are released too.
        for k in range(20):
            now_ms = int(time.time() * 1000)
            bg = {"event_id": f"tail-{k}", "type": "page_load", "time": now_ms,
                  "session_id": f"tail-{k}", "attrs": {"page": "/", "duration_ms": 1}}  # fmt: skip
            send(bg["session_id"].encode(), bg)
            wait(0.05)
        if batcher is not None:
            batcher.flush()
        if one_by_one is not None:
            one_by_one.close()
        producer.close()
        stop_time = time.monotonic()
        stop.set()
        thread.join(30)
        reader.close()
    finally:
        proc.terminate()
        proc.wait(30)
    steady_from = began + WARM_UP_S
    return LatencyRun(
        sorted(late for at, late in latencies if at < steady_from),
        sorted(late for at, late in latencies if at >= steady_from),
        load_rate,
    )


def summary(latencies: list[float]) -> str:
    """Count, p50, p99 and max of sorted latencies, in ms."""
    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    return (
        f"{len(latencies)} findings, p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms"
    )


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--latency-rate", type=float, default=10, help="completing events/s")
    parser.add_argument(
        "--latency-load",
        type=float,
        metavar="FRACTION",
        help="latency run: instead of --latency-rate, load the worker with this fraction of "
        "the events/s its throughput run measured on one event per message (0.5: half that "
        "capacity; batch messages reach about 3x it, so give them --latency-rate)",
    )
    parser.add_argument("--latency-seconds", type=float, default=20)
    parser.add_argument(
        "--config", type=Path, help="detector configuration (default: every installed detector)"
    )
    parser.add_argument("--profile", type=Path, help="py-spy profile of the throughput worker")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency run")
    parser.add_argument(
        "--batched", action="store_true", help="latency run: events in batch messages"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes in one group (throughput run)"
    )
    args = parser.parse_args()
    if args.profile is not None and args.workers != 1:
        parser.error("--profile samples one worker: use it with --workers 1")

    home = Path(tempfile.mkdtemp(prefix="friction-bench-"))
    broker = LocalKafka(home / "kafka", port=free_port(), controller_port=free_port())
    print(f"starting Kafka in {home} ...", file=sys.stderr)
    broker.up(timeout=90)
    try:
        bootstrap = broker.bootstrap
        default_config = home / "default.toml"
        base = args.config.read_text() if args.config else ""
        default_config.write_text(base)
        live_config = home / "live.toml"
        live_config.write_text("[engine]\nallowed_lateness_ms = 0\n\n" + base)
        topic = "bench-events"
        create_topic(bootstrap, topic, 4)
        messages = generate(args.events)
        took = preload(bootstrap, topic, messages)
        size = sum(len(v) for _, v in messages) / len(messages)
        print(f"pre-loaded {len(messages):,} events ({size:.0f} B avg) in {took:.1f}s")

        bare = ceiling(bootstrap, topic, len(messages))
        print(f"ceiling (bare kafka-python consumer, read + parse): {bare:,.0f} events/s")
        bare_faust = faust_ceiling(bootstrap, topic, len(messages), home)
        print(
            f"Faust ceiling (bare Faust agent, read + parse + acknowledge): "
            f"{bare_faust:,.0f} events/s"
        )

        routed_rate, total_rate = throughput(
            bootstrap, topic, len(messages), default_config, home, args.profile, args.workers
        )
        which = f"config {args.config}" if args.config else "all detectors"
        print(
            f"worker, {which}, {args.workers} process(es): {routed_rate:,.0f} events/s "
            f"through stage 1, {total_rate:,.0f} events/s until detection committed everything"
        )

        if args.no_latency:
            return 0
        rate = args.latency_rate
        if args.latency_load is not None:
            rate = args.latency_load * total_rate / (1 + BACKGROUND_PER_COMPLETING)
        run = latency(bootstrap, live_config, home, rate, args.latency_seconds, args.batched)
        load = run.load_rate
        print(
            f"latency load: {rate:g} completing events/s asked, {load:,.0f} events/s produced "
            f"({load / total_rate:.2f} of the throughput run's {total_rate:,.0f} events/s)"
        )
        if run.warm_up:
            print(f"latency in the first {WARM_UP_S:g} s (warm-up): {summary(run.warm_up)}")
        if run.steady:
            p99 = percentile(run.steady, 0.99) * 1000
            print(
                f"latency produce -> finding readable after the warm-up, lateness 0: "
                f"{summary(run.steady)}; target p99 < {LATENCY_TARGET_MS} ms: "
                f"{'met' if p99 < LATENCY_TARGET_MS else 'not met'}"
            )
        else:
            print("latency: no findings read after the warm-up")
    finally:
        broker.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
