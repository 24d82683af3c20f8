import pytest
from friction_detector.detectors.builtin.repeated_info_request import RepeatedInfoRequest
from friction_detector.detectors.testing import DetectorHarness, make_event

T0 = 1_768_550_400_000  # 2026-01-16T08:00:00Z, a Friday on the hour, in the past
HASHES = {"name": "h-name", "street": "h-street", "postcode": "h-post"}


def given(offset_ms, form_id, channel="web", user="u-1", **hashes):
    return make_event(
        "info_provided",
        T0 + offset_ms,
        user_id=user,
        form_id=form_id,
        channel=channel,
        field_hashes=hashes or dict(HASHES),
    )


def run(*events, detector=None, lateness=0):
    harness = DetectorHarness(detector or RepeatedInfoRequest(), allowed_lateness_ms=lateness)
    harness.feed(*events)
    harness.advance(T0 + 30 * 86_400_000)
    return harness


def test_same_values_in_another_form_is_asked_again():
    harness = run(given(0, "checkout"), given(60_000, "support", "chat"))
    assert harness.kinds() == ["asked_again"]
    finding = harness.findings[0]
    assert finding.segment == "support"
    assert finding.evidence["repeated_fields"] == ["name", "postcode", "street"]
    assert "h-name" not in str(finding.to_dict())


@pytest.mark.parametrize(("repeated", "kinds"), [(1, []), (2, ["asked_again"])])
def test_at_least_two_repeated_values(repeated, kinds):
    second = dict(list(HASHES.items())[:repeated], phone="h-phone")
    assert run(given(0, "checkout"), given(1000, "support", **second)).kinds() == kinds


def test_the_same_form_again_is_not_this_moment():
    assert run(given(0, "checkout"), given(1000, "checkout")).kinds() == []


def test_same_form_in_another_channel_counts():
    assert run(given(0, "address"), given(1000, "address", "phone")).kinds() == ["asked_again"]


def test_values_older_than_the_period_may_be_asked_again():
    week = 7 * 86_400_000
    assert run(given(0, "a"), given(week, "b")).kinds() == ["asked_again"]
    assert run(given(0, "a"), given(week + 1, "b")).kinds() == []


def test_other_users_do_not_match():
    assert run(given(0, "a"), given(1000, "b", user="u-2")).kinds() == []


def test_remembered_hashes_are_capped_per_user():
    detector = RepeatedInfoRequest(max_remembered=2)
    first = given(0, "a", **{f"f{i}": f"h{i}" for i in range(5)})
    second = given(1000, "b", f0="h0", f1="h1")
    assert run(first, second, detector=detector).kinds() == []


def test_out_of_order_within_lateness_reports_the_later_form():
    harness = run(given(5000, "support", "chat"), given(0, "checkout"), lateness=60_000)
    assert [f.segment for f in harness.findings] == ["support"]


def test_duplicate_submission_is_not_a_repeat():
    first = given(0, "a")
    harness = run(first, first)
    assert harness.kinds() == []
    assert harness.duplicates == 1


def test_field_hashes_not_an_object_goes_to_dead_letter():
    bad = make_event("info_provided", T0, form_id="a", field_hashes=["h1"])
    assert len(run(bad).bad) == 1
