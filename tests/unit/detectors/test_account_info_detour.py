from friction_detector.detectors.builtin.account_info_detour import AccountInfoDetour
from friction_detector.detectors.testing import DetectorHarness, make_event

T0 = 1_768_550_400_000  # 2026-01-16T08:00:00Z, a Friday on the hour, in the past


def view(offset_s, page="/shop", session="s-1"):
    return make_event("page_view", T0 + offset_s * 1000, session_id=session, page=page)


def search(offset_s, session="s-1"):
    return make_event("search", T0 + offset_s * 1000, session_id=session, results=2)


def steps(n, start_s=0):
    return [search(start_s + i) if i % 2 else view(start_s + i) for i in range(n)]


def run(*events, detector=None, lateness=0):
    harness = DetectorHarness(detector or AccountInfoDetour(), allowed_lateness_ms=lateness)
    harness.feed(*events)
    harness.advance(T0 + 3600_000)
    return harness


def test_six_steps_before_the_account_page_is_a_detour():
    harness = run(*steps(6), view(10, "/account/orders"))
    assert harness.kinds() == ["detour"]
    assert harness.findings[0].evidence["searches"] == 3
    assert harness.findings[0].segment == "/account/orders"


def test_five_steps_are_fine():
    assert run(*steps(5), view(10, "/account")).kinds() == []


def test_only_the_first_account_page_is_judged():
    harness = run(view(0, "/account"), *steps(8, 1), view(20, "/account"))
    assert harness.kinds() == []


def test_steps_older_than_the_lookback_do_not_count():
    harness = run(*steps(6), view(700, "/account"))
    assert harness.kinds() == []


def test_threshold_is_configurable():
    assert run(*steps(3), view(5, "/account"), detector=AccountInfoDetour(max_steps=2)).kinds() == [
        "detour"
    ]


def test_sessions_are_separate():
    events = [view(i, session=f"s-{i}") for i in range(8)] + [view(9, "/account")]
    assert run(*events).kinds() == []


def test_out_of_order_steps_within_lateness_still_count():
    events = [view(10, "/account"), *steps(6)]
    assert run(*events, lateness=60_000).kinds() == ["detour"]


def test_duplicate_page_views_count_once():
    events = steps(5)
    harness = run(*events, events[0], view(10, "/account"))
    assert harness.kinds() == []
    assert harness.duplicates == 1


def test_page_view_without_page_goes_to_dead_letter():
    assert len(run(make_event("page_view", T0)).bad) == 1


def test_pages_that_only_share_the_prefix_are_steps_not_account_pages():
    harness = run(*steps(6), view(10, "/accounting"), view(11, "/accounts-payable"))
    assert harness.kinds() == []


def test_account_prefix_matches_whole_path_segments():
    for page in ("/account", "/account/", "/account/orders"):
        assert run(*steps(6), view(10, page)).kinds() == ["detour"], page
