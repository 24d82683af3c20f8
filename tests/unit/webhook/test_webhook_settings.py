"""`[webhook]` is checked before anything runs: one line naming the key, the secret never in
the file, and the worker refuses to start without the secret it signs with."""

from __future__ import annotations

import pytest
from friction_detector.detectors.config import ConfigError, load_config
from friction_detector.streams.cli.main import main
from friction_detector.streams.webhook.settings import WebhookSettings, load_webhook_settings

DETECTORS = ("slow_checkout", "late_reset_email")


def error(raw: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        load_webhook_settings(raw, "f.toml", DETECTORS)
    return str(caught.value)


def test_absent_table_means_no_webhook():
    assert load_webhook_settings(None, "f.toml", DETECTORS) is None


def test_table_with_only_a_url_takes_the_documented_defaults():
    settings = load_webhook_settings({"url": "https://cx.example.com/in"}, "f.toml", DETECTORS)
    assert settings == WebhookSettings(url="https://cx.example.com/in")
    assert settings.secret_env == "FRICTION_WEBHOOK_SECRET"
    assert settings.record_types == ("finding", "alert")


def test_secret_in_the_file_is_refused_with_the_way_to_give_it():
    message = error({"url": "http://h/", "secret": "hunter2"})
    assert "webhook.secret" in message and "secret_env" in message
    assert "hunter2" not in message


def test_misspelt_key_suggests_the_right_one():
    assert "unknown setting webhook.max_atempts; did you mean max_attempts?" in error(
        {"max_atempts": 3}
    )


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"url": "ftp://h/x"}, "webhook.url must be an http:// or https:// URL"),
        ({"url": "http:///x"}, "webhook.url must be an http:// or https:// URL"),
        ({"url": "http://h:port/x"}, "webhook.url has an invalid port"),
        ({"timeout_s": 0}, "webhook.timeout_s must be a number > 0"),
        ({"backoff_s": "1"}, "webhook.backoff_s must be a number >= 0"),
        ({"max_attempts": 0}, "webhook.max_attempts must be a whole number >= 1"),
        ({"queue_size": 1.5}, "webhook.queue_size must be a whole number >= 1"),
        ({"batch_size": True}, "webhook.batch_size must be a whole number >= 1"),
        ({"min_severity": "high"}, "webhook.min_severity must be one of info, warning, critical"),
        ({"record_types": ["finding", "outcomes"]}, "webhook.record_types must list some of"),
        ({"record_types": []}, "webhook.record_types must list some of"),
        ({"kinds": "late"}, "webhook.kinds must be a list of names"),
        ({"detectors": ["slow_chekout"]}, "unknown detector(s) slow_chekout"),
        ({"backoff_s": 10, "max_backoff_s": 5}, "webhook.max_backoff_s (5) is below"),
        ({"secret_env": ""}, "webhook.secret_env must name an environment variable"),
    ],
)
def test_bad_value_names_the_key(raw, says):
    message = error(raw)
    assert message.startswith("f.toml: ")
    assert says in message


def test_missing_secret_variable_is_an_error_naming_it():
    settings = WebhookSettings(url="http://h/", secret_env="CX_HOOK_KEY")
    with pytest.raises(ConfigError, match="CX_HOOK_KEY"):
        settings.secret({})
    assert settings.secret({"CX_HOOK_KEY": "k"}) == b"k"


def test_configuration_file_accepts_a_webhook_table(tmp_path):
    path = tmp_path / "f.toml"
    path.write_text('[webhook]\nurl = "http://127.0.0.1:9/x"\n')
    assert load_config(path).sections["webhook"] == {"url": "http://127.0.0.1:9/x"}


def test_worker_without_the_secret_stops_before_kafka_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FRICTION_WEBHOOK_SECRET", raising=False)
    path = tmp_path / "f.toml"
    path.write_text('[webhook]\nurl = "http://127.0.0.1:9/x"\n')
    status = main(["--config", str(path), "worker", "--broker", "kafka://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert "FRICTION_WEBHOOK_SECRET" in err and "not set" in err


def test_config_check_shows_the_webhook_and_whether_the_secret_is_set(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("CX_HOOK_KEY", "do-not-print-me")
    path = tmp_path / "f.toml"
    path.write_text(
        '[webhook]\nurl = "https://cx.example.com/in"\nsecret_env = "CX_HOOK_KEY"\n'
        'min_severity = "warning"\n'
    )
    assert main(["config", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "url = 'https://cx.example.com/in'" in out
    assert "min_severity = 'warning' (default 'info')" in out
    assert "secret: from $CX_HOOK_KEY (set here)" in out
    assert "do-not-print-me" not in out


def test_replay_webhook_without_a_url_anywhere_is_an_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FRICTION_WEBHOOK_SECRET", "k")
    events = tmp_path / "events.jsonl"
    events.write_text("")
    assert main(["replay", str(events), "--webhook"]) == 2
    assert "--webhook: give a URL" in capsys.readouterr().err


def test_webhook_reference_documents_every_setting():
    from dataclasses import fields
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "webhook.md").read_text()
    missing = [f.name for f in fields(WebhookSettings) if f"`{f.name}`" not in text]
    assert missing == []
