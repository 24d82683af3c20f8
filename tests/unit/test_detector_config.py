"""The configuration file and `friction detectors list`: clear errors that name the key."""

from __future__ import annotations

import pytest
from contract_stream import CONTRACT_DETECTORS, contract_only
from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
from friction_detector.detectors.config import ConfigError, build_config, load_config
from friction_detector.detectors.engine import DEFAULT_ALLOWED_LATENESS_MS, DEFAULT_DEDUP_HORIZON_MS
from friction_detector.detectors.events import DEFAULT_MAX_EVENT_BYTES, MAX_DEPTH_CEILING
from friction_detector.streams.cli.main import main


def config_error(raw: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        build_config(raw, source="friction.toml")
    return str(caught.value)


def test_empty_configuration_enables_every_contract_detector_with_defaults():
    config = build_config({})
    by_name = {d.name: d for d in config.detectors}
    assert set(CONTRACT_DETECTORS) <= set(by_name)
    assert by_name["slow_checkout"].threshold_ms == 4000
    assert by_name["slow_checkout"].period_s == 1800
    assert by_name["late_reset_email"].late_after_s == 60
    assert by_name["late_reset_email"].missing_after_s == 600
    assert by_name["long_chat_wait"].slow_after_s == 120
    assert by_name["long_chat_wait"].unanswered_after_s == 600
    assert by_name["repeated_form_submission"].min_submits == 3
    assert by_name["repeated_form_submission"].window_s == 120


def test_empty_configuration_has_default_engine_settings():
    engine = build_config({}).engine
    assert engine.allowed_lateness_ms == DEFAULT_ALLOWED_LATENESS_MS == 30_000
    assert engine.dedup_horizon_ms == DEFAULT_DEDUP_HORIZON_MS
    assert engine.max_event_bytes == DEFAULT_MAX_EVENT_BYTES == 64 * 1024


def test_parameter_override_is_applied():
    config = build_config(contract_only({"detectors": {"slow_checkout": {"threshold_ms": 2500}}}))
    (slow,) = [d for d in config.detectors if d.name == "slow_checkout"]
    assert slow.threshold_ms == 2500


def test_disabled_detector_is_not_run():
    config = build_config(contract_only({"detectors": {"slow_checkout": {"enabled": False}}}))
    assert sorted(d.name for d in config.detectors) == sorted(
        set(CONTRACT_DETECTORS) - {"slow_checkout"}
    )


def test_explicitly_enabled_detector_runs():
    config = build_config(contract_only({"detectors": {"slow_checkout": {"enabled": True}}}))
    assert "slow_checkout" in [d.name for d in config.detectors]


def test_disabling_every_detector_is_an_error():
    raw = contract_only({"detectors": {name: {"enabled": False} for name in CONTRACT_DETECTORS}})
    assert "no detector is enabled" in config_error(raw)


def test_unknown_detector_is_an_error_naming_it():
    message = config_error({"detectors": {"slow_chekout": {}}})
    assert "friction.toml" in message
    assert "unknown detector(s) slow_chekout" in message
    assert "slow_checkout" in message.split("installed:")[1]


def test_unknown_parameter_is_an_error_naming_it():
    message = config_error({"detectors": {"slow_checkout": {"treshold_ms": 10}}})
    assert "detectors.slow_checkout" in message
    assert "treshold_ms" in message


@pytest.mark.parametrize("value", ["4000", 4000.5, True, [4000]])
def test_parameter_of_wrong_type_is_an_error_naming_it(value):
    message = config_error({"detectors": {"slow_checkout": {"threshold_ms": value}}})
    assert "detectors.slow_checkout: threshold_ms must be int" in message


def test_string_parameter_of_wrong_type_is_an_error_naming_it():
    message = config_error({"detectors": {"slow_checkout": {"page_prefix": 7}}})
    assert "detectors.slow_checkout: page_prefix must be str" in message


@pytest.mark.parametrize(
    ("detector", "param", "value"),
    [
        ("slow_checkout", "threshold_ms", 0),
        ("slow_checkout", "period_s", -5),
        ("late_reset_email", "late_after_s", 0),
        ("long_chat_wait", "unanswered_after_s", 0),
        ("repeated_form_submission", "min_submits", 1),
        ("repeated_form_submission", "window_s", 0),
    ],
)
def test_out_of_range_parameter_is_an_error_naming_it(detector, param, value):
    message = config_error({"detectors": {detector: {param: value}}})
    assert f"detectors.{detector}: {param} must be >=" in message


@pytest.mark.parametrize("value", ["no", 0, 1])
def test_enabled_that_is_not_a_boolean_is_an_error_naming_it(value):
    message = config_error({"detectors": {"slow_checkout": {"enabled": value}}})
    assert "detectors.slow_checkout.enabled must be true or false" in message


@pytest.mark.parametrize("value", [5, "off", ["threshold_ms"]])
def test_detector_section_that_is_not_a_table_is_an_error_naming_it(value):
    message = config_error({"detectors": {"slow_checkout": value}})
    assert "detectors.slow_checkout" in message


def test_detectors_that_is_not_a_table_is_an_error():
    assert "[detectors] must be a table" in config_error({"detectors": ["slow_checkout"]})


def test_unknown_engine_setting_is_an_error_naming_it():
    assert "engine.lateness_ms" in config_error({"engine": {"lateness_ms": 5}})


@pytest.mark.parametrize("value", [-1, "30000", 1.5, True])
def test_engine_setting_that_is_not_a_non_negative_integer_is_an_error(value):
    message = config_error({"engine": {"allowed_lateness_ms": value}})
    assert "engine.allowed_lateness_ms must be a non-negative integer" in message


@pytest.mark.parametrize("value", [5, "fast", [1]])
def test_engine_section_that_is_not_a_table_is_an_error(value):
    assert "[engine] must be a table" in config_error({"engine": value})


def test_engine_settings_are_applied():
    raw = {"engine": {"allowed_lateness_ms": 0, "dedup_horizon_ms": 60_000, "max_event_bytes": 10}}
    engine = build_config(raw).engine
    assert (engine.allowed_lateness_ms, engine.dedup_horizon_ms, engine.max_event_bytes) == (
        0,
        60_000,
        10,
    )


def test_empty_configuration_has_default_decoder_limits():
    engine = build_config({}).engine
    limits = (engine.max_future_ms, engine.max_depth, engine.max_attrs, engine.max_string_chars)
    assert limits == (3_600_000, 32, 64, 8192)


def test_decoder_limits_are_passed_to_the_decoder():
    limits = {"max_future_ms": 5, "max_depth": 4, "max_attrs": 3, "max_string_chars": 2}
    decoder = build_config(contract_only({"engine": limits})).decoder()
    applied = {name: getattr(decoder, name) for name in limits}
    assert applied == limits


def test_depth_limit_above_what_can_be_written_on_is_an_error():
    message = config_error({"engine": {"max_depth": MAX_DEPTH_CEILING + 1}})
    assert f"engine.max_depth must be at most {MAX_DEPTH_CEILING}" in message


def test_depth_limit_at_the_ceiling_is_accepted():
    assert build_config({"engine": {"max_depth": MAX_DEPTH_CEILING}}).engine.max_depth == 128


@pytest.mark.parametrize("key", ["max_future_ms", "max_depth", "max_attrs", "max_string_chars"])
def test_decoder_limit_that_is_negative_is_an_error(key):
    assert f"engine.{key} must be a non-negative integer" in config_error({"engine": {key: -1}})


def test_other_sections_are_kept_for_other_parts():
    config = build_config({"alerts": {"window_s": 300}})
    assert config.sections == {"alerts": {"window_s": 300}}


def test_detector_rejects_unknown_parameter_when_built_directly():
    with pytest.raises(ValueError, match="slow_checkout: unknown parameter"):
        SlowCheckout(threshold=1)


def test_float_parameter_accepts_an_integer():
    from friction_detector.detectors.api import Param

    assert Param(0.5, "a share").check("share", 1) is None


# -- the file ----------------------------------------------------------------------------------


def test_load_config_reads_toml(tmp_path):
    path = tmp_path / "friction.toml"
    path.write_text(
        "[engine]\nallowed_lateness_ms = 5000\n\n"
        "[detectors.late_reset_email]\nlate_after_s = 90\n\n"
        "[detectors.slow_checkout]\nenabled = false\n"
    )
    config = load_config(path)
    names = [d.name for d in config.detectors]
    assert config.engine.allowed_lateness_ms == 5000
    assert "slow_checkout" not in names
    (late,) = [d for d in config.detectors if d.name == "late_reset_email"]
    assert late.late_after_s == 90


def test_load_config_error_names_the_file(tmp_path):
    path = tmp_path / "friction.toml"
    path.write_text("[detectors.slow_checkout]\nthreshold_ms = 0\n")
    with pytest.raises(ConfigError, match=r"friction\.toml: detectors\.slow_checkout"):
        load_config(path)


def test_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "absent.toml")


def test_invalid_toml_is_an_error(tmp_path):
    path = tmp_path / "friction.toml"
    path.write_text("[detectors\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_no_config_file_gives_defaults():
    assert set(CONTRACT_DETECTORS) <= {d.name for d in load_config(None).detectors}


# -- friction detectors list ---------------------------------------------------------------------

CONTRACT_PARAMETER_LINES = {
    "slow_checkout": [
        "  page_prefix = '/checkout': ",
        "  threshold_ms = 4000 [1..]: ",
        "  period_s = 1800 [1..]: ",
    ],
    "late_reset_email": ["  late_after_s = 60 [1..]: ", "  missing_after_s = 600 [1..]: "],
    "long_chat_wait": ["  slow_after_s = 120 [1..]: ", "  unanswered_after_s = 600 [1..]: "],
    "repeated_form_submission": ["  min_submits = 3 [2..]: ", "  window_s = 120 [1..]: "],
}


def listing(capsys, *args: str) -> dict[str, list[str]]:
    assert main([*args, "detectors", "list"]) == 0
    blocks: dict[str, list[str]] = {}
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith(" "):
            blocks[line.split(" ", 1)[0]] = [line]
        else:
            blocks[list(blocks)[-1]].append(line)
    return blocks


def test_detectors_list_shows_the_four_contract_detectors_enabled(capsys):
    blocks = listing(capsys)
    for name in CONTRACT_DETECTORS:
        assert blocks[name][0].startswith(
            f"{name} (enabled, friction_detector.detectors.builtin.{name}): "
        )


@pytest.mark.parametrize("name", CONTRACT_DETECTORS)
def test_detectors_list_shows_parameters_with_defaults_and_bounds(capsys, name):
    lines = listing(capsys)[name]
    for expected in CONTRACT_PARAMETER_LINES[name]:
        assert any(line.startswith(expected) for line in lines), (expected, lines)


def test_detectors_list_shows_consumed_types(capsys):
    blocks = listing(capsys)
    assert "  consumes: page_load, order_placed" in blocks["slow_checkout"]
    assert "  consumes: chat_started, chat_message, chat_ended" in blocks["long_chat_wait"]


def test_detectors_list_shows_configured_value_beside_default(capsys, tmp_path):
    path = tmp_path / "friction.toml"
    path.write_text(
        "[detectors.slow_checkout]\nthreshold_ms = 2500\n"
        "[detectors.long_chat_wait]\nenabled = false\n"
    )
    blocks = listing(capsys, "--config", str(path))
    assert any(
        line.startswith("  threshold_ms = 2500 (default 4000) [1..]: ")
        for line in blocks["slow_checkout"]
    )
    assert blocks["long_chat_wait"][0].startswith("long_chat_wait (disabled, ")


def test_command_with_bad_config_exits_2_naming_the_key(capsys, tmp_path):
    path = tmp_path / "friction.toml"
    path.write_text("[detectors.slow_checkout]\nthreshold_ms = 'slow'\n")
    assert main(["--config", str(path), "detectors", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("friction: ")
    assert "detectors.slow_checkout: threshold_ms must be int" in err
