"""The worker's log format: text unless FRICTION_LOG_FORMAT or --log-format say json."""

from __future__ import annotations

import argparse

import pytest
from friction_detector.streams.kafka.settings import SettingsError, add_kafka_options, resolve


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_kafka_options(parser, worker=True)
    return parser.parse_args(argv)


def test_logs_are_text_by_default() -> None:
    assert resolve(parse(), worker=True, env={}).log_format == "text"


def test_the_environment_asks_for_json_and_the_option_overrides_it() -> None:
    env = {"FRICTION_LOG_FORMAT": "json"}

    assert resolve(parse(), worker=True, env=env).log_format == "json"
    assert resolve(parse("--log-format", "text"), worker=True, env=env).log_format == "text"


def test_an_unknown_log_format_names_the_choices() -> None:
    with pytest.raises(SettingsError, match="log format must be text or json, got 'yaml'"):
        resolve(parse("--log-format", "yaml"), worker=True, env={})
