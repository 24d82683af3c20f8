"""The worker's store setting: a clear error before Faust starts, not an import error in it."""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing

import pytest
from friction_detector.detectors.config import build_config
from friction_detector.streams.cli.main import build_parser, main
from friction_detector.streams.kafka.settings import SettingsError, WorkerSettings, resolve
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.app import FrictionApp


def _resolve_store(store: str) -> str:
    return resolve(argparse.Namespace(store=store), worker=True, env={}).store


def test_memory_and_rocksdb_stores_are_accepted():
    assert _resolve_store("memory://") == "memory://"
    assert _resolve_store("rocksdb://") == "rocksdb://"


def test_an_unknown_store_is_refused_with_the_choices():
    with pytest.raises(SettingsError, match="memory:// or rocksdb://"):
        _resolve_store("redis://")


def test_rocksdb_without_rocksdict_says_what_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec

    def without_rocksdict(name, *args):
        return None if name == "rocksdict" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_rocksdict)
    with pytest.raises(SettingsError, match=r"friction-detector\[rocksdb\]"):
        _resolve_store("rocksdb://")


def test_metrics_listen_on_all_interfaces_by_default():
    assert resolve(argparse.Namespace(), worker=True, env={}).metrics_addr == "0.0.0.0"


def test_metrics_address_comes_from_the_environment():
    env = {"FRICTION_METRICS_ADDR": "127.0.0.1"}
    assert resolve(argparse.Namespace(), worker=True, env=env).metrics_addr == "127.0.0.1"


def test_metrics_address_option_overrides_the_environment():
    args = build_parser().parse_args(["worker", "--metrics-addr", "::1"])
    env = {"FRICTION_METRICS_ADDR": "127.0.0.1"}
    assert resolve(args, worker=True, env=env).metrics_addr == "::1"


def test_send_and_tail_take_the_log_level_too():
    for command in ("send", "tail"):
        argv = [command, "--log-level", "DEBUG"] + (["events.jsonl"] if command == "send" else [])
        assert resolve(build_parser().parse_args(argv), env={}).debug


def test_a_topic_name_kafka_refuses_is_a_settings_error_naming_the_setting():
    env = {"FRICTION_FINDINGS_TOPIC": "my findings"}
    with pytest.raises(SettingsError, match="findings topic: 'my findings' is not a Kafka topic"):
        resolve(argparse.Namespace(), env=env)


def test_a_bad_topic_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["send", "events.jsonl", "--topic", "bad topic!"])
    assert exit_.value.code == 2
    assert "argument --topic: 'bad topic!' is not a Kafka topic name" in capsys.readouterr().err


def test_stage_1_holds_a_batch_20_ms_by_default_and_the_hold_is_settable():
    assert resolve(argparse.Namespace(), worker=True, env={}).batch_hold_ms == 20
    env = {"FRICTION_BATCH_HOLD_MS": "0"}  # no hold: an empty queue sends the batch at once
    assert resolve(argparse.Namespace(), worker=True, env=env).batch_hold_ms == 0


def test_a_hold_past_a_batchs_age_limit_is_refused_with_the_range():
    with pytest.raises(SettingsError, match=r"batch-hold-ms must be 0\.\.100"):
        resolve(argparse.Namespace(batch_hold_ms=250), worker=True, env={})


def test_offsets_are_committed_every_2_8_s_by_default_and_the_interval_is_settable():
    assert resolve(argparse.Namespace(), worker=True, env={}).commit_interval_s == 2.8
    env = {"FRICTION_COMMIT_INTERVAL_S": "1"}
    assert resolve(argparse.Namespace(), worker=True, env=env).commit_interval_s == 1.0


def test_a_commit_interval_that_is_not_positive_is_refused():
    with pytest.raises(SettingsError, match="commit-interval-s must be positive"):
        resolve(argparse.Namespace(commit_interval_s=0.0), worker=True, env={})


def test_the_faust_app_commits_at_the_set_interval(tmp_path):
    settings = WorkerSettings(app_id="app-commit", data_dir=str(tmp_path), commit_interval_s=1.5)
    friction = FrictionApp(settings, build_config({}), FrictionMetrics(set()))
    assert friction.app.conf.broker_commit_interval == 1.5


def test_the_input_readers_aiokafka_clients_log_in_as_the_worker_does():
    settings = WorkerSettings(
        broker="kafka://k1:9093;kafka://k2:9093",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="friction",
        sasl_password="secret",
    )
    login = {
        "bootstrap_servers": ["k1:9093", "k2:9093"],
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "friction",
        "sasl_plain_password": "secret",
    }
    assert settings.aiokafka_config() == login
    assert settings.client_config() == login
    assert WorkerSettings(broker="kafka://k1:9092").aiokafka_config() == {
        "bootstrap_servers": ["k1:9092"]
    }


@pytest.mark.parametrize(
    "broker", ["kafka://localhost:abc", "", "kafka://localhost:99999", "http://localhost:9092"]
)
def test_a_malformed_broker_is_a_settings_error_naming_the_option(broker, capsys):
    assert main(["worker", "--broker", broker]) == 2
    err = capsys.readouterr().err
    assert err.startswith("friction worker: --broker: ") and err.count("\n") == 1, err
    assert "not a Kafka broker address" in err or "no broker address given" in err
    assert "reachable" not in err


def test_a_malformed_broker_variable_is_named():
    env = {"FRICTION_KAFKA_BROKER": "kafka://k1:9092;kafka://k2:port"}
    with pytest.raises(SettingsError, match="^FRICTION_KAFKA_BROKER: 'kafka://k2:port' is not"):
        resolve(argparse.Namespace(), env=env)


@pytest.mark.parametrize(
    "broker",
    ["kafka://k1:9093;kafka://k2:9093", "k1:9092", "kafka://[::1]:9092", "kafka://a:1,b:2"],
)
def test_well_formed_brokers_are_accepted(broker):
    assert resolve(argparse.Namespace(broker=broker), env={}).broker == broker


def test_stage_1_runs_in_a_process_of_its_own_by_default_and_inline_on_request():
    assert resolve(argparse.Namespace(), worker=True, env={}).input_stage == "process"
    chosen = resolve(argparse.Namespace(input_stage="inline"), worker=True, env={})
    assert chosen.input_stage == "inline"
    from_env = resolve(argparse.Namespace(), worker=True, env={"FRICTION_INPUT_STAGE": "inline"})
    assert from_env.input_stage == "inline"


def test_an_unknown_input_stage_is_refused_with_the_choices():
    with pytest.raises(SettingsError, match="input stage must be process or inline, got 'thread'"):
        WorkerSettings(input_stage="thread").validate()


def test_a_system_that_cannot_fork_is_told_to_run_stage_1_inline(monkeypatch):
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    with pytest.raises(SettingsError, match="use --input-stage inline"):
        WorkerSettings().validate()
    WorkerSettings(input_stage="inline").validate()
