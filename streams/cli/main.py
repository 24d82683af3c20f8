"""The `friction` command: one entry point, a sub-command per job."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import BinaryIO, Literal, NoReturn

from friction_detector.detectors.alerts import Alert
from friction_detector.detectors.compiled import compiled
from friction_detector.detectors.config import Config, ConfigError, load_config
from friction_detector.detectors.registry import RegistryError, installed_detectors
from friction_detector.streams.cli.commands import add_streaming_commands
from friction_detector.streams.cli.options import add_config_option
from friction_detector.streams.cli.sort import DEFAULT_RUN_LINES
from friction_detector.streams.devkit.local_kafka import add_kafka_commands
from friction_detector.streams.webhook.settings import WebhookSettings


def _open(
    files: contextlib.ExitStack, path: str | None, mode: Literal["rb", "wb"], default: BinaryIO
) -> BinaryIO:
    """A file the command owns, or a standard stream it must leave open."""
    if not path or path == "-":
        return default
    return files.enter_context(open(path, mode))  # noqa: SIM115 - closed by the exit stack


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def cmd_replay(args: argparse.Namespace) -> int:
    from friction_detector.streams.cli.alert_sink import JsonLinesAlertSink
    from friction_detector.streams.cli.heap import long_lived_state
    from friction_detector.streams.cli.replay import replay

    config = load_config(args.config)
    webhook_settings = _replay_webhook(args, config)
    alert_file = None
    outcomes_out = None
    webhook = None
    with contextlib.ExitStack() as files:
        try:
            source = _open(files, args.path, "rb", sys.stdin.buffer)
        except OSError as err:
            print(f"friction replay: cannot read {args.path}: {err.strerror}", file=sys.stderr)
            return 2
        try:
            findings_out = _open(files, args.findings, "wb", sys.stdout.buffer)
            dead_out = (
                _open(files, args.dead_letter, "wb", sys.stdout.buffer)
                if args.dead_letter
                else sys.stderr.buffer
            )
            if args.alerts:
                alert_file = JsonLinesAlertSink(_open(files, args.alerts, "wb", sys.stdout.buffer))
            if args.outcomes:
                outcomes_out = _open(files, args.outcomes, "wb", sys.stdout.buffer)
        except OSError as err:
            print(f"friction replay: cannot write {err.filename}: {err.strerror}", file=sys.stderr)
            return 2
        alert_sinks: list[Callable[[Alert], None]] = [alert_file] if alert_file else []
        if webhook_settings is not None:
            from friction_detector.streams.webhook.sink import open_webhook

            webhook = open_webhook(webhook_settings, origin="replay")
            if "alert" in webhook_settings.record_types:
                alert_sinks.append(webhook.alert)
        with long_lived_state():
            summary = replay(
                source,
                config,
                findings_out,
                dead_out,
                source_name=args.path,
                alert_sink=_each(alert_sinks),
                sourced=args.sourced,
                sort_run_lines=args.sort_run_lines if args.sort else None,
                on_findings=webhook.findings if webhook is not None else None,
                outcomes_out=outcomes_out,
                on_outcomes=webhook.outcomes if webhook is not None else None,
            )
        findings_out.flush()
        if outcomes_out is not None:
            outcomes_out.flush()
        dead_out.flush()
        if alert_file is not None:
            alert_file.out.flush()
    print(summary.render(), file=sys.stderr)
    if alert_file is not None:
        print(alert_file.render(), file=sys.stderr)
    if webhook is not None:
        from friction_detector.streams.webhook.sink import render_counts

        webhook.close(lambda pending: print(
            f"replay: webhook: {pending:,} records still to send", file=sys.stderr, flush=True
        ))  # fmt: skip
        print(render_counts(webhook), file=sys.stderr)
    warning = summary.late_warning(sourced=args.sourced, sorted_input=args.sort)
    if warning:
        print(warning, file=sys.stderr)
    if not compiled():
        print(NOT_COMPILED_NOTE, file=sys.stderr)
    return 0


NOT_COMPILED_NOTE = (
    "friction replay: note: this install has no compiled detection core (cargo was not found "
    "when it was built), so replay ran the reference engine: the same findings, at about two "
    "thirds of the rate; reinstall with Rust's cargo on the PATH to build it"
)


def _replay_webhook(args: argparse.Namespace, config: Config) -> WebhookSettings | None:
    """`--webhook [URL]`: the settings of `[webhook]`, the URL replaced when one is given.

    Replay sends nothing without `--webhook`, even when the file has a `[webhook]` table: a
    back-test of old data must not reach the live endpoint by accident.
    """
    if args.webhook is None:
        return None
    from friction_detector.streams.webhook.sink import webhook_settings

    settings = webhook_settings(config, str(args.config or "defaults"), args.webhook or None)
    if settings is None or not settings.url:
        raise ConfigError("--webhook: give a URL, or set webhook.url in the configuration")
    settings.secret()  # a missing secret stops replay before it reads anything
    return settings


def _each(sinks: list[Callable[[Alert], None]]) -> Callable[[Alert], None] | None:
    """One alert sink that hands each alert to every one of `sinks`; None without any."""
    if not sinks:
        return None
    if len(sinks) == 1:
        return sinks[0]

    def each(alert: Alert) -> None:
        for sink in sinks:
            sink(alert)

    return each


def cmd_detectors_list(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    enabled = {d.name: d for d in config.enabled}
    for name, cls in installed_detectors().items():
        state = "enabled" if name in enabled else "disabled"
        print(f"{name} ({state}, {cls.__module__}): {cls.description}")
        print(f"  consumes: {', '.join(cls.consumes)}")
        for pname, spec in cls.params.items():
            current = getattr(enabled[name], pname) if name in enabled else spec.default
            bounds = ""
            if spec.minimum is not None or spec.maximum is not None:
                low = "" if spec.minimum is None else f"{spec.minimum:g}"
                high = "" if spec.maximum is None else f"{spec.maximum:g}"
                bounds = f" [{low}..{high}]"
            if spec.choices:
                bounds = f" [{' | '.join(spec.choices)}]"
            shown = repr(current)
            if current != spec.default:
                shown += f" (default {spec.default!r})"
            print(f"  {pname} = {shown}{bounds}: {spec.help}")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    """Exit 2 with the error when the file cannot run (main prints it), else show what runs."""
    from friction_detector.detectors.alerts import load_alert_settings
    from friction_detector.streams.cli.config_check import describe, describe_webhook
    from friction_detector.streams.webhook.sink import webhook_settings

    config = load_config(args.file)
    webhook = webhook_settings(config, str(args.file))
    print(f"{args.file}: valid")
    print(describe(config, load_alert_settings(config.sections.get("alerts"))))
    if webhook is not None:
        print(describe_webhook(webhook))
    return 0


def installed_version() -> str:
    try:
        return version("friction-detector")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="friction", description="Real-time detection of customer-experience friction."
    )
    add_config_option(parser, top=True)
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    replay = commands.add_parser("replay", help="run the detectors over a JSON Lines file")
    replay.add_argument("path", help="JSON Lines file of events, or - for standard input")
    add_config_option(replay)
    replay.add_argument("--findings", help="write findings here (default: standard output)")
    replay.add_argument(
        "--dead-letter",
        help="write bad lines with reasons here (- for standard output; default: standard error)",
    )
    replay.add_argument(
        "--sourced",
        action="store_true",
        help="each line says its topic and partition (`friction tail --with-source`): event "
        "time follows the slowest partition, as in the worker",
    )
    replay.add_argument(
        "--sort",
        action="store_true",
        help="order the input by event time first (an external sort through temporary files); "
        "lines that are not events come first and are dead-lettered as usual",
    )
    replay.add_argument(
        "--sort-run-lines",
        type=_positive,
        default=DEFAULT_RUN_LINES,
        metavar="N",
        help=f"with --sort, hold at most N lines in memory (default {DEFAULT_RUN_LINES:,})",
    )
    replay.add_argument(
        "--alerts",
        help="run the alert rules of [alerts] too and write firing and resolved alerts here "
        "as JSON Lines (- for standard output)",
    )
    replay.add_argument(
        "--outcomes",
        metavar="PATH",
        help="write the outcomes of findings that interrupted a journey (completed or "
        "abandoned) here as JSON Lines (- for standard output)",
    )
    replay.add_argument(
        "--webhook",
        nargs="?",
        const="",
        metavar="URL",
        help="POST findings (and alerts) to the webhook of [webhook], or to URL, signed with "
        "the secret in webhook.secret_env; waits up to webhook.flush_timeout_s at the end",
    )
    replay.set_defaults(func=cmd_replay)

    detectors = commands.add_parser("detectors", help="installed detectors")
    detectors_commands = detectors.add_subparsers(dest="detectors_command", required=True)
    listing = detectors_commands.add_parser("list", help="show detectors, parameters, defaults")
    add_config_option(listing)
    listing.set_defaults(func=cmd_detectors_list)

    configuration = commands.add_parser("config", help="the configuration file")
    config_commands = configuration.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser(
        "check", help="validate a configuration and show the detectors, settings and rules"
    )
    check.add_argument("file", type=Path, help="the TOML file to check")
    check.set_defaults(func=cmd_config_check)

    add_kafka_commands(commands)
    add_streaming_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, RegistryError) as err:
        print(f"friction: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


def run() -> NoReturn:
    """The `friction` command: `main`, then the process ends (at once after a replay)."""
    from friction_detector.streams.cli.heap import run_and_exit

    run_and_exit(main)


if __name__ == "__main__":
    run()
