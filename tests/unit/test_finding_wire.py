"""A finding is refused when made if JSON cannot carry it; one read back from JSON loads."""

from __future__ import annotations

import orjson
import pytest
from friction_detector.detectors.findings import Finding


def finding(**fields: object) -> Finding:
    given: dict = {
        "detector": "slow_checkout",
        "kind": "slow_load",
        "severity": "warning",
        "time_ms": 1_795_000_000_000,
        "subject": {"session_id": "s-1"},
        "summary": "slow",
        "evidence": {"duration_ms": 9000},
    }
    return Finding(**(given | fields))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("evidence", {"pages": {"/checkout"}}),
        ("subject", {"session_id": {"s-1"}}),
        ("evidence", {1: "not a string key"}),
        ("summary", object()),
    ],
)
def test_a_field_json_cannot_carry_is_refused_naming_it(field, value):
    with pytest.raises(TypeError, match=f"finding {field} cannot be written as JSON"):
        finding(**{field: value})


def test_a_finding_read_back_from_its_json_loads_with_the_same_id():
    made = finding(user_id="u-1", segment="checkout", evidence={"n": [1, 2.5, None, True]})
    doc = orjson.loads(made.to_json())
    read = Finding(
        detector=doc["detector"],
        kind=doc["kind"],
        severity=doc["severity"],
        time_ms=made.time_ms,
        subject=doc["subject"],
        summary=doc["summary"],
        evidence=doc["evidence"],
        user_id=doc["user_id"],
        session_id=doc["session_id"],
        segment=doc["segment"],
        finding_id=doc["finding_id"],
    )
    assert read == made and read.finding_id == made.finding_id
