"""The streaming sub-commands: `worker`, `send`, `tail`, `simulate` and the one-command `demo`."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from friction_detector.detectors.config import load_config
from friction_detector.streams.cli.options import add_config_option
from friction_detector.streams.kafka.failures import report_failure
from friction_detector.streams.kafka.settings import (
    KafkaSettings,
    SettingsError,
    add_kafka_options,
    resolve,
    topic_name,
)

DEMO_HOME = Path(".friction")
DEMO_CONFIG = """\
# Written by `friction demo`: the defaults, with a short allowed lateness so that findings
# show up a few seconds after the moment rather than half a minute.
[engine]
allowed_lateness_ms = 5000
"""


def _settings(args: argparse.Namespace, worker: bool = False):
    try:
        return resolve(args, worker=worker)
    except SettingsError as err:
        print(f"friction {args.command}: {err}", file=sys.stderr)
        return None


def _brokers(settings: KafkaSettings) -> str:
    return ",".join(settings.bootstrap)


def _reachable(command: str, settings: KafkaSettings) -> bool:
    """Say in one line, within seconds, that no broker answers, rather than time out later."""
    from friction_detector.streams.kafka.reachable import BrokerUnreachable, check_reachable

    try:
        check_reachable(settings)
    except BrokerUnreachable as err:
        print(f"friction {command}: {err}", file=sys.stderr)
        return False
    return True


def cmd_worker(args: argparse.Namespace) -> int:
    from friction_detector.streams.webhook.sink import check_webhook
    from friction_detector.streams.worker.run import run_worker

    config = load_config(args.config)
    check_webhook(config, str(args.config or "defaults"))
    settings = _settings(args, worker=True)
    if settings is None or not _reachable(args.command, settings):
        return 2
    return run_worker(settings, config)


def cmd_send(args: argparse.Namespace) -> int:
    """Exit 1 when a line was skipped (over the message limit), so scripts notice."""
    from friction_detector.streams.cli.send import send_file
    from friction_detector.streams.kafka.auth import AuthenticationFailed, check_authentication
    from kafka.errors import KafkaError

    settings = _settings(args)
    if settings is None or not _reachable(args.command, settings):
        return 2
    topic = args.topic or settings.input_topics[0]
    try:
        check_authentication(settings)
        result = send_file(args.path, settings, topic=topic, batch=not args.one_per_message)
    except AuthenticationFailed as err:
        print(f"friction send: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"friction send: cannot read {args.path}: {err.strerror}", file=sys.stderr)
        return 2
    except KafkaError as err:
        what = f"sending {args.path} to {topic} at {_brokers(settings)}"
        report_failure("send", what, err, settings.debug)
        return 1
    return 1 if result.skipped else 0


def cmd_tail(args: argparse.Namespace) -> int:
    from friction_detector.streams.cli.tail import tail
    from friction_detector.streams.kafka.auth import AuthenticationFailed, check_authentication
    from kafka.errors import KafkaError

    settings = _settings(args)
    if settings is None or not _reachable(args.command, settings):
        return 2
    topics = args.topic or [settings.findings_topic, settings.alerts_topic]
    try:
        check_authentication(settings)
        tail(
            settings,
            topics,
            from_beginning=args.from_beginning,
            as_json=args.json,
            with_source=args.with_source,
        )
    except AuthenticationFailed as err:
        print(f"friction tail: {err}", file=sys.stderr)
        return 2
    except KafkaError as err:
        what = f"following {', '.join(topics)} at {_brokers(settings)}"
        report_failure("tail", what, err, settings.debug)
        return 1
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from friction_detector.streams.devkit.simulate import simulate, to_json

    if args.rate <= 0 or not 0 <= args.incident_rate <= 1:
        print("friction simulate: --rate must be > 0, --incident-rate in [0, 1]", file=sys.stderr)
        return 2
    if args.output:
        with contextlib.ExitStack() as stack:
            out = (
                sys.stdout.buffer
                if args.output == "-"
                else stack.enter_context(open(args.output, "wb"))
            )

            def emit(event: dict) -> None:
                out.write(to_json(event) + b"\n")
                out.flush()

            simulate(emit, args.rate, args.incident_rate, args.duration, args.seed)
        return 0

    from friction_detector.streams.cli.send import producer_for
    from friction_detector.streams.kafka.auth import AuthenticationFailed, check_authentication
    from friction_detector.streams.kafka.batch_producer import EventBatcher, event_key
    from kafka.errors import KafkaError

    settings = _settings(args)
    if settings is None or not _reachable(args.command, settings):
        return 2
    try:
        check_authentication(settings)
        producer = producer_for(settings, acks=1)
    except AuthenticationFailed as err:
        print(f"friction simulate: {err}", file=sys.stderr)
        return 2
    except KafkaError as err:
        report_failure("simulate", f"connecting to {_brokers(settings)}", err, settings.debug)
        return 1
    topic = settings.input_topics[0]
    batcher = None if args.one_per_message else EventBatcher(producer, topic)

    def send(event: dict) -> None:
        value = to_json(event)
        if batcher is not None:
            batcher.add(value)
        else:
            producer.send(topic, key=event_key(value), value=value)

    def tick() -> None:
        if batcher is not None:
            batcher.close_due()

    try:
        traffic = simulate(
            send, args.rate, args.incident_rate, args.duration, args.seed, after_tick=tick
        )
    finally:
        if batcher is not None:
            batcher.flush()
        producer.flush()
        producer.close()
    injected = {name: n for name, n in traffic.injected.items() if n}
    print(f"simulate: incidents injected {injected}", file=sys.stderr)
    return 0


# -- the demo ---------------------------------------------------------------------------------


def _stop(proc: subprocess.Popen, name: str, timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    print(f"demo: stopping the {name} ...", file=sys.stderr, flush=True)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cmd_demo(args: argparse.Namespace) -> int:
    """Local broker, a worker, live traffic, findings on the terminal; Ctrl-C stops it all."""
    from friction_detector.streams.cli.tail import tail
    from friction_detector.streams.devkit.local_kafka import BrokerError, LocalKafka

    home = Path(args.home)
    home.mkdir(parents=True, exist_ok=True)
    broker = LocalKafka(home / "kafka", port=args.port, controller_port=args.port + 1)
    started_broker = not broker.is_running()
    try:
        print("demo: starting Kafka (the first run fetches its jars) ...", file=sys.stderr)
        broker.up(timeout=90)
    except BrokerError as err:
        print(f"friction demo: {err}", file=sys.stderr)
        return 1
    config = args.config
    if config is None:
        config = home / "demo.toml"
        config.write_text(DEMO_CONFIG)
    cli = [sys.executable, "-m", "friction_detector.streams.cli.main", "--config", str(config)]
    broker_url = f"kafka://{broker.bootstrap}"
    env = {**os.environ, "FRICTION_KAFKA_BROKER": broker_url}
    children: list[tuple[str, subprocess.Popen]] = []
    try:
        worker_log = open(home / "demo-worker.log", "ab")  # noqa: SIM115 - kept for the child
        worker = subprocess.Popen(
            cli + ["worker", "--app-id", "friction-demo", "--idle-advance-s", "2",
                   "--metrics-port", str(args.metrics_port), "--log-level", "WARN",
                   "--data-dir", str(home / "worker")],
            stdout=worker_log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
        children.append(("worker", worker))
        sim_log = open(home / "demo-simulate.log", "ab")  # noqa: SIM115 - kept for the child
        simulator = subprocess.Popen(
            cli + ["simulate", "--rate", str(args.rate),
                   "--incident-rate", str(args.incident_rate)],
            stdout=sim_log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
        children.insert(0, ("simulator", simulator))
        metrics = f", metrics on http://127.0.0.1:{args.metrics_port}/metrics"
        print(
            f"demo: Kafka at {broker.bootstrap}, worker and simulator running "
            f"(logs in {home}/demo-*.log{metrics if args.metrics_port else ''}).\n"
            "demo: findings appear below a few seconds after each moment; Ctrl-C stops.",
            file=sys.stderr,
            flush=True,
        )
        settings = resolve(argparse.Namespace(broker=broker_url))
        time.sleep(1)
        tail(settings, [settings.findings_topic, settings.alerts_topic])
    except KeyboardInterrupt:
        pass
    finally:
        for name, proc in children:
            _stop(proc, name)
        if started_broker and not args.keep_kafka:
            print("demo: stopping Kafka ...", file=sys.stderr)
            broker.down()
    return 0


# -- registration -----------------------------------------------------------------------------


def add_streaming_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register `worker`, `send`, `tail`, `simulate` and `demo`, each with `func(args)`."""
    worker = subparsers.add_parser("worker", help="run the streaming worker (Faust) against Kafka")
    add_config_option(worker)
    add_kafka_options(worker, worker=True)
    worker.set_defaults(func=cmd_worker)

    send = subparsers.add_parser("send", help="send a JSON Lines file of events to the input topic")
    send.add_argument("path", help="JSON Lines file, or - for standard input")
    send.add_argument(
        "--topic", type=topic_name, help="send here instead of the (first) input topic"
    )
    send.add_argument(
        "--one-per-message",
        action="store_true",
        help="send each line as a message of its own (default: batch messages, JSON arrays)",
    )
    add_kafka_options(send)
    send.set_defaults(func=cmd_send)

    tail = subparsers.add_parser("tail", help="print findings and alerts as they arrive")
    tail.add_argument(
        "--topic",
        action="append",
        type=topic_name,
        help="topic to follow (repeatable; default findings, alerts)",
    )
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest message")
    tail.add_argument("--json", action="store_true", help="print the messages as they are")
    tail.add_argument(
        "--with-source",
        action="store_true",
        help="print each message as a JSON line with its topic, partition and offset "
        "(for `friction replay --sourced`)",
    )
    add_kafka_options(tail)
    tail.set_defaults(func=cmd_tail)

    sim = subparsers.add_parser("simulate", help="send live traffic with friction incidents")
    sim.add_argument("--rate", type=float, default=50, help="events per second (default 50)")
    sim.add_argument(
        "--incident-rate",
        type=float,
        default=0.05,
        help="share of scenarios that are friction incidents, 0..1 (default 0.05)",
    )
    sim.add_argument("--duration", type=float, default=None, help="seconds to run (default: ever)")
    sim.add_argument("--seed", type=int, default=None, help="seed for a repeatable run")
    sim.add_argument("--output", help="write JSON Lines here (- for stdout) instead of Kafka")
    sim.add_argument(
        "--one-per-message",
        action="store_true",
        help="send each event as a message of its own (default: batch messages, JSON arrays)",
    )
    add_kafka_options(sim)
    sim.set_defaults(func=cmd_simulate)

    demo = subparsers.add_parser(
        "demo", help="local Kafka + worker + simulated traffic, findings on the terminal"
    )
    add_config_option(demo)
    demo.add_argument("--home", default=str(DEMO_HOME), help="folder for Kafka, logs, config")
    demo.add_argument("--port", type=int, default=9092, help="Kafka port (controller: port+1)")
    demo.add_argument("--rate", type=float, default=30, help="events per second (default 30)")
    demo.add_argument("--incident-rate", type=float, default=0.15, help="default 0.15")
    demo.add_argument("--metrics-port", type=int, default=9108, help="0 disables")
    demo.add_argument(
        "--keep-kafka", action="store_true", help="leave the broker running afterwards"
    )
    demo.set_defaults(func=cmd_demo)
