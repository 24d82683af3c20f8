from friction_detector.detectors.builtin.rage_click import RageClick
from friction_detector.detectors.testing import DetectorHarness, make_event

T0 = 1_768_550_400_000  # 2026-01-16T08:00:00Z, a Friday on the hour, in the past


def click(offset_ms, target="#pay", x=100, y=100, session="s-1", **attrs):
    attrs.setdefault("response_ms", 100)
    return make_event("click", T0 + offset_ms, session_id=session, target=target, x=x, y=y, **attrs)


def run(*events, detector=None, lateness=0):
    harness = DetectorHarness(detector or RageClick(), allowed_lateness_ms=lateness)
    harness.feed(*events)
    harness.advance(T0 + 60_000)
    return harness


def test_three_clicks_within_one_second_is_a_rage_click():
    harness = run(click(0), click(400), click(1000))
    assert harness.kinds() == ["rage_click"]
    assert harness.findings[0].segment == "#pay"
    assert harness.findings[0].severity == "warning"


def test_two_clicks_are_not_enough():
    assert run(click(0), click(300)).kinds() == []


def test_third_click_just_after_the_window_is_not_a_burst():
    assert run(click(0), click(500), click(1001)).kinds() == []


def test_clicks_within_the_radius_on_different_targets_count():
    harness = run(click(0, "a", 100, 100), click(200, "b", 121, 121), click(400, "c", 110, 100))
    assert harness.kinds() == ["rage_click"]


def test_clicks_just_outside_the_radius_do_not_count():
    assert run(click(0, "a", 0, 0), click(200, "b", 31, 0), click(400, "c", 62, 0)).kinds() == []


def test_one_finding_per_burst():
    harness = run(*(click(i * 200) for i in range(10)))
    assert harness.kinds() == ["rage_click"]


def test_a_new_burst_after_a_quiet_gap_is_reported_again():
    first = [click(i * 200) for i in range(3)]
    second = [click(5000 + i * 200) for i in range(3)]
    assert run(*first, *second).kinds() == ["rage_click", "rage_click"]


def test_clicks_on_a_dead_element_make_a_critical_rage_dead_click():
    harness = run(*(click(i * 100, response_ms=3000) for i in range(3)))
    assert harness.kinds() == ["rage_dead_click"]
    assert harness.findings[0].severity == "critical"


def test_clicks_without_response_are_unknown_not_dead_unless_configured_otherwise():
    events = [make_event("click", T0 + i * 100, target="#x") for i in range(3)]
    assert run(*events).kinds() == ["rage_click"]
    detector = RageClick(missing_response_is_dead=True)
    events = [make_event("click", T0 + i * 100, target="#x") for i in range(3)]
    assert run(*events, detector=detector).kinds() == ["rage_dead_click"]


def test_stepper_clicks_are_ignored_by_default():
    for target in ("input[type=number]", "#qty [role=spinbutton]"):
        assert run(*(click(i * 100, target=target) for i in range(5))).kinds() == [], target


def test_ignored_targets_are_silent():
    detector = RageClick(ignore_targets=[".datepicker *"])
    events = [click(i * 100, target=".datepicker td.day") for i in range(5)]
    assert run(*events, detector=detector).kinds() == []


def test_min_clicks_param_moves_the_threshold():
    detector = RageClick(min_clicks=4)
    assert run(click(0), click(100), click(200), detector=detector).kinds() == []
    events = [click(i * 100) for i in range(4)]
    assert run(*events, detector=detector).kinds() == ["rage_click"]


def test_other_sessions_do_not_add_up():
    assert run(click(0), click(100, session="s-2"), click(200, session="s-3")).kinds() == []


def test_duplicates_are_counted_once():
    first, second = click(0), click(300)
    harness = run(first, first, second, second)
    assert harness.kinds() == []
    assert harness.duplicates == 2


def test_out_of_order_clicks_within_lateness_still_make_a_burst():
    harness = run(click(800), click(0), click(400), lateness=5000)
    assert harness.kinds() == ["rage_click"]
    assert harness.findings[0].evidence["span_ms"] == 800


def test_click_without_target_goes_to_dead_letter():
    harness = run(make_event("click", T0, x=1, y=2))
    assert len(harness.bad) == 1


def test_negative_response_time_goes_to_dead_letter():
    harness = run(click(0, response_ms=-5))
    assert len(harness.bad) == 1
