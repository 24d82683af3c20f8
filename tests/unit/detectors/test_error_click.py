import pytest
from friction_detector.detectors.builtin.error_click import ErrorClick
from friction_detector.detectors.testing import DetectorHarness, make_event

T0 = 1_768_550_400_000  # 2026-01-16T08:00:00Z, a Friday on the hour, in the past


def click(offset_ms, target="#save", session="s-1"):
    return make_event("click", T0 + offset_ms, session_id=session, target=target, response_ms=50)


def error(offset_ms, session="s-1", **attrs):
    return make_event("js_error", T0 + offset_ms, session_id=session, **attrs)


def run(*events, detector=None, lateness=0):
    harness = DetectorHarness(detector or ErrorClick(), allowed_lateness_ms=lateness)
    harness.feed(*events)
    harness.advance(T0 + 60_000)
    return harness


@pytest.mark.parametrize(
    ("delay_ms", "reported"), [(0, True), (999, True), (1000, True), (1001, False)]
)
def test_error_within_one_second_after_a_click(delay_ms, reported):
    harness = run(click(0), error(delay_ms, message="boom"))
    assert harness.kinds() == (["error_click"] if reported else [])


def test_error_before_the_click_is_not_blamed_on_it():
    assert run(error(0), click(100)).kinds() == []


def test_error_in_another_session_is_not_blamed():
    assert run(click(0), error(100, session="s-2")).kinds() == []


def test_one_finding_per_click_even_with_many_errors():
    harness = run(click(0), error(100), error(200), error(300))
    assert harness.kinds() == ["error_click"]
    assert harness.findings[0].segment == "#save"


def test_each_click_followed_by_an_error_counts():
    assert run(click(0), error(100), click(5000), error(5100)).kinds() == ["error_click"] * 2


def test_window_is_configurable():
    assert run(click(0), error(1500), detector=ErrorClick(window_ms=2000)).kinds() == [
        "error_click"
    ]


def test_ignored_targets_are_not_blamed():
    detector = ErrorClick(ignore_targets=["#save"])
    assert run(click(0), error(100), detector=detector).kinds() == []


def test_error_arriving_before_its_click_within_lateness_is_matched():
    assert run(error(300), click(0), lateness=5000).kinds() == ["error_click"]


def test_duplicate_error_is_counted_once():
    e = error(100)
    harness = run(click(0), e, e)
    assert harness.duplicates == 1
    assert harness.kinds() == ["error_click"]


def test_error_message_of_wrong_type_goes_to_dead_letter():
    assert len(run(error(0, message=42)).bad) == 1
