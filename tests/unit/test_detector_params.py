"""A detector's parameters are declared twice, as a Param and as a typed attribute, and the two
cannot drift apart: a mismatch fails when the class is defined."""

from __future__ import annotations

import typing

import pytest
from friction_detector.detectors import Context, Detector, Event, Param
from friction_detector.detectors.registry import installed_detectors
from friction_detector.detectors.schema import CONTRACT_TYPES


class Minimal(Detector):
    name = "minimal"
    description = "reports nothing"
    consumes = {"page_load": CONTRACT_TYPES["page_load"]}

    def state_ttl_ms(self) -> int:
        return 1000

    def key(self, event: Event) -> str | None:
        return event.session_id

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        return None


@pytest.mark.parametrize("name", sorted(installed_detectors()))
def test_every_installed_detector_annotates_each_param_with_its_type(name):
    cls = installed_detectors()[name]
    hints = typing.get_type_hints(cls)
    for pname, spec in cls.params.items():
        assert hints.get(pname) == spec.annotation(), f"{name}.{pname}"


def test_param_attributes_hold_the_configured_values_with_their_declared_types():
    class Typed(Minimal):
        params = {
            "limit_ms": Param(100, "a limit", minimum=1),
            "share": Param(0.5, "a share"),
            "prefix": Param("/x", "a prefix"),
            "strict": Param(True, "a switch"),
            "targets": Param(["a"], "patterns"),
        }
        limit_ms: int
        share: float
        prefix: str
        strict: bool
        targets: list[str]

    detector = Typed(share=1, targets=["b", "c"])
    assert (detector.limit_ms, detector.share, detector.prefix) == (100, 1.0, "/x")
    assert type(detector.share) is float
    assert (detector.strict, detector.targets) == (True, ["b", "c"])


def test_param_without_annotation_fails_when_the_class_is_defined():
    with pytest.raises(TypeError, match=r"'limit_ms' needs an annotation.*`limit_ms: int`"):

        class Undeclared(Minimal):
            params = {"limit_ms": Param(100, "a limit")}


def test_param_annotated_with_another_type_fails_when_the_class_is_defined():
    with pytest.raises(TypeError, match=r"'limit_ms' is annotated 'float'.*default is int"):

        class Drifted(Minimal):
            params = {"limit_ms": Param(100, "a limit")}
            limit_ms: float


def test_list_param_must_be_annotated_as_a_list_of_strings():
    with pytest.raises(TypeError, match=r"'targets' is annotated 'list\[int\]'"):

        class WrongItems(Minimal):
            params = {"targets": Param([], "patterns")}
            targets: list[int]


def test_inherited_param_keeps_the_parent_annotation():
    class Parent(Minimal):
        params = {"limit_ms": Param(100, "a limit")}
        limit_ms: int

    class Child(Parent):
        pass

    assert Child(limit_ms=5).limit_ms == 5


def test_detector_without_its_reactions_cannot_be_instantiated():
    class Unfinished(Detector):
        name = "unfinished"
        description = "no key, no on_event"
        consumes = {"page_load": CONTRACT_TYPES["page_load"]}

        def state_ttl_ms(self) -> int:
            return 1000

    with pytest.raises(TypeError, match="abstract"):
        Unfinished()  # type: ignore[abstract]
