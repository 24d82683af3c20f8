"""The detector and event references name every installed detector, parameter, event type,
decoder limit and bad-input reason."""

from __future__ import annotations

import inspect
from pathlib import Path

import orjson
import pytest
from friction_detector.detectors.config import EngineSettings
from friction_detector.detectors.events import BAD_INPUT_REASONS, BadInput, EventDecoder
from friction_detector.detectors.registry import installed_detectors
from friction_detector.streams.dead_letter import DETECTOR_ERROR, dead_letter_record

DOCS = Path(__file__).resolve().parents[2] / "docs"
BUILT_IN = {
    name: cls
    for name, cls in installed_detectors().items()
    if cls.__module__.startswith("friction_detector.detectors.")
}
# The [engine] settings the decoder enforces; docs/events.md lists each with its default.
LIMITS = {"max_event_bytes", "max_future_ms", "max_depth", "max_attrs", "max_string_chars"}


def shown_default(default: object) -> str:
    """How the reference writes a default: a list as its items, anything else as its repr."""
    if isinstance(default, list) and default:
        return ", ".join(f"`{item}`" for item in default)
    return f"`{default!r}`"


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_detector_reference_documents_each_parameter_and_default(name):
    text = (DOCS / "detectors.md").read_text()
    section = text.split(f"## `{name}`\n", 1)
    assert len(section) == 2, f"docs/detectors.md has no section for {name}"
    body = section[1].split("\n## ", 1)[0]
    for pname, spec in BUILT_IN[name].params.items():
        row = f"| `{pname}` | {shown_default(spec.default)} |"
        assert row in body, f"{name}.{pname}: no row {row}"


def test_event_reference_documents_every_consumed_type():
    text = (DOCS / "events.md").read_text()
    consumed = {t for cls in BUILT_IN.values() for t in cls.consumes}
    assert sorted(t for t in consumed if f"`{t}`" not in text) == []


def events_section(title: str) -> str:
    text = (DOCS / "events.md").read_text()
    section = text.split(f"## {title}\n", 1)
    assert len(section) == 2, f"docs/events.md has no section {title!r}"
    return section[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_event_reference_documents_each_decoder_limit_with_its_default(name):
    row = f"| `{name}` | `{getattr(EngineSettings(), name)}` |"
    assert row in events_section("Limits"), f"no row {row}"


@pytest.mark.parametrize("reason", (*BAD_INPUT_REASONS, DETECTOR_ERROR))
def test_event_reference_documents_each_bad_input_reason(reason):
    assert f"`{reason}`" in events_section("Dead letters")


def test_every_decoder_setting_is_a_documented_limit():
    decoder_settings = set(inspect.signature(EventDecoder).parameters) - {"schemas", "now_ms"}
    assert decoder_settings == LIMITS


def test_event_reference_documents_each_field_of_a_cut_dead_letter():
    bad = BadInput(BAD_INPUT_REASONS[0], "detail", b"\xff" * 3000)
    record = orjson.loads(dead_letter_record(bad, "events", "0:1", max_bytes=1024))
    section = events_section("Dead letters")
    assert sorted(name for name in record if f"| `{name}` |" not in section) == []
