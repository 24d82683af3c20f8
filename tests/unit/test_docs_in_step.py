"""The detector and event references name every installed detector, parameter and event type."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.registry import installed_detectors

DOCS = Path(__file__).resolve().parents[2] / "docs"
BUILT_IN = {
    name: cls
    for name, cls in installed_detectors().items()
    if cls.__module__.startswith("detectors.")
}


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
