"""One load validates the whole file: known tables only, [alerts] too; `friction config check`
shows what will run; `friction --version`."""

from __future__ import annotations

from importlib.metadata import version

import pytest
from friction_detector.detectors.config import ConfigError, load_config
from friction_detector.streams.cli.main import main


def write(tmp_path, text: str):
    path = tmp_path / "friction.toml"
    path.write_text(text)
    return path


def load_error(path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


@pytest.mark.parametrize(("table", "meant"), [("engin", "engine"), ("detectorz", "detectors")])
def test_misspelt_table_is_an_error_with_a_suggestion(tmp_path, table, meant):
    message = load_error(write(tmp_path, f"[{table}]\nx = 1\n"))
    assert f"unknown table [{table}]" in message
    assert f"did you mean [{meant}]?" in message


def test_unknown_table_names_the_known_ones(tmp_path):
    message = load_error(write(tmp_path, "[kafka]\nbroker = 'x'\n"))
    assert "unknown table [kafka]" in message
    assert "known: alerts, detectors, engine" in message
    assert "did you mean" not in message


def test_misspelt_detector_subtable_is_an_error(tmp_path):
    message = load_error(write(tmp_path, "[detectors.slow_chekout]\nthreshold_ms = 1\n"))
    assert "slow_chekout" in message


def test_alerts_are_validated_in_the_same_load_naming_the_key(tmp_path):
    message = load_error(write(tmp_path, "[alerts]\nbucket_s = 'soon'\n"))
    assert "alerts.bucket_s" in message
    assert str(tmp_path / "friction.toml") in message


def test_alert_rule_error_names_the_rule_key(tmp_path):
    text = "[alerts.rules.FrictionChatWaitsLong]\nthreshhold = 0.5\n"
    message = load_error(write(tmp_path, text))
    assert "alerts.rules.FrictionChatWaitsLong" in message
    assert "threshhold" in message


def test_worker_with_bad_alerts_stops_before_kafka_with_one_line(tmp_path, capsys):
    path = write(tmp_path, "[alerts]\nbucket_s = 0\n")
    code = main(["worker", "--config", str(path), "--broker", "kafka://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "alerts.bucket_s" in err


def test_config_check_shows_detectors_engine_and_alert_rules(tmp_path, capsys):
    text = (
        "[engine]\nallowed_lateness_ms = 5000\n\n"
        "[detectors]\nenable = ['slow_checkout', 'late_reset_email']\n\n"
        "[detectors.slow_checkout]\nthreshold_ms = 3000\n"
    )
    assert main(["config", "check", str(write(tmp_path, text))]) == 0
    out = capsys.readouterr().out
    assert "allowed_lateness_ms = 5000 (default 30000)" in out
    assert "slow_checkout" in out and "threshold_ms = 3000 (default 4000)" in out
    assert "late_reset_email" in out and "missing_after_s = 600" in out
    assert "long_chat_wait" not in out.split("disabled")[0]
    assert "FrictionResetEmailsDelayed" in out


def test_config_check_of_a_bad_file_prints_the_error_and_exits_2(tmp_path, capsys):
    assert main(["config", "check", str(write(tmp_path, "[engin]\n"))]) == 2
    captured = capsys.readouterr()
    assert "did you mean [engine]?" in captured.err
    assert captured.out == ""


def test_config_check_of_a_missing_file_exits_2(tmp_path, capsys):
    assert main(["config", "check", str(tmp_path / "nope.toml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_version_is_the_installed_distribution_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"friction {version('friction-detector')}"


def test_config_check_shows_the_labels_on_every_alert(tmp_path, capsys):
    path = write(tmp_path, '[alerts]\nlabels = { environment = "prod", job = "friction-worker" }\n')
    assert main(["config", "check", str(path)]) == 0
    assert "alert labels: environment=prod, job=friction-worker" in capsys.readouterr().out


def test_a_bad_alert_label_is_a_config_error_naming_the_key(tmp_path):
    message = load_error(write(tmp_path, "[alerts]\nlabels = { environment = 1 }\n"))
    assert "alerts.labels.environment must be a string" in message


def test_an_alert_rule_naming_a_detector_not_installed_is_an_error(tmp_path, capsys):
    text = "[alerts.rules.Mine]\ndetector = 'slow_chekout'\ncondition = 'rate'\nthreshold = 1.0\n"
    path = write(tmp_path, text)
    message = load_error(path)
    assert "alerts.rules.Mine.detector: unknown detector 'slow_chekout'" in message
    assert "slow_checkout" in message.split("installed:")[1]
    assert main(["config", "check", str(path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_an_alert_rule_naming_an_undeclared_measurement_is_an_error(tmp_path):
    text = "[alerts.rules.FrictionCheckoutSlowLoads]\nmeasurement = 'checkout_loads'\n"
    message = load_error(write(tmp_path, text))
    assert "alerts.rules.FrictionCheckoutSlowLoads.measurement" in message
    assert "no measurement 'checkout_loads'; it declares: checkout_load" in message


def test_an_alert_rule_of_a_disabled_detector_is_shown_as_never_firing(tmp_path, capsys):
    text = (
        "[detectors.dead_click]\nenabled = false\n\n"
        "[alerts.rules.Mine]\ndetector = 'dead_click'\ncondition = 'rate'\nthreshold = 1.0\n"
    )
    assert main(["config", "check", str(write(tmp_path, text))]) == 0
    assert "Mine: dead_click rate > 1 " in capsys.readouterr().out
