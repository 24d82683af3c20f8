import pytest
from friction_detector.detectors.builtin.dead_click import DeadClick
from friction_detector.detectors.events import Event
from friction_detector.detectors.testing import DetectorHarness, make_event

T0 = 1_768_550_400_000  # 2026-01-16T08:00:00Z, a Friday on the hour, in the past


def click(offset_ms, target="#apply", session="s-1", **attrs):
    return make_event("click", T0 + offset_ms, session_id=session, target=target, **attrs)


def run(*events, detector=None, lateness=0):
    harness = DetectorHarness(detector or DeadClick(), allowed_lateness_ms=lateness)
    harness.feed(*events)
    harness.advance(T0 + 10 * 3600_000)
    return harness


def test_click_without_response_is_unknown_not_dead_by_default():
    assert run(*(click(i * 60_000, target=f"#b{i}") for i in range(300))).kinds() == []


def test_click_without_response_is_dead_when_configured():
    harness = run(click(0), detector=DeadClick(missing_response_is_dead=True))
    assert harness.kinds() == ["dead_click"]
    assert harness.findings[0].evidence["inp_rating"] == "none"
    assert harness.findings[0].segment == "#apply"


@pytest.mark.parametrize(("response_ms", "dead"), [(2499, False), (2500, False), (2501, True)])
def test_response_over_the_limit_is_dead(response_ms, dead):
    assert run(click(0, response_ms=response_ms)).kinds() == (["dead_click"] if dead else [])


def test_inp_rating_of_a_slow_response_is_poor():
    assert run(click(0, response_ms=3000)).findings[0].evidence["inp_rating"] == "poor"


def test_one_finding_per_target_per_session_per_period():
    harness = run(
        *(click(t, response_ms=3000) for t in (0, 60_000, 1_799_999)),
        click(0, target="#other", response_ms=3000),
    )
    assert harness.kinds() == ["dead_click", "dead_click"]


def test_period_restarts_after_it_elapses():
    harness = run(click(0, response_ms=3000), click(1_800_000, response_ms=3000))
    assert harness.kinds() == ["dead_click", "dead_click"]


def test_limit_is_configurable():
    detector = DeadClick(dead_after_ms=1234)
    assert run(click(0, response_ms=1300), detector=detector).kinds() == ["dead_click"]


def test_missing_response_can_be_treated_as_unknown():
    assert run(click(0), detector=DeadClick(missing_response_is_dead=False)).kinds() == []


def test_ignored_targets_are_silent():
    detector = DeadClick(ignore_targets=["a.download*"])
    assert run(click(0, target="a.download-pdf"), detector=detector).kinds() == []


@pytest.mark.parametrize(
    "target",
    [
        "input[type=text]",
        'form#signup input[type="text"]',
        "input[type=number]",
        "#qty > input[type='number']",
        "textarea",
        "form textarea#comment",
        "div[role=spinbutton]",
        '.quantity [role="spinbutton"]',
    ],
)
def test_text_inputs_and_steppers_are_ignored_by_default(target):
    assert run(click(0, target=target, response_ms=3000)).kinds() == []


@pytest.mark.parametrize("target", ["button#pay", "a.textarea-help", "input[type=submit]"])
def test_other_targets_are_not_ignored_by_default(target):
    assert run(click(0, target=target, response_ms=3000)).kinds() == ["dead_click"]


def test_out_of_order_keeps_the_first_dead_click():
    harness = run(click(5000, response_ms=3000), click(0, response_ms=3000), lateness=10_000)
    assert harness.kinds() == ["dead_click"]
    assert harness.findings[0].time_ms == T0


def test_duplicate_click_is_not_counted_twice():
    first = click(0, response_ms=3000)
    harness = run(first, first)
    assert harness.kinds() == ["dead_click"]
    assert harness.duplicates == 1


def test_non_numeric_response_goes_to_dead_letter():
    assert len(run(click(0, response_ms="slow")).bad) == 1


def test_limit_param_is_bounded():
    with pytest.raises(ValueError, match="dead_after_ms"):
        DeadClick(dead_after_ms=0)


@pytest.mark.parametrize(
    ("attrs", "key"),
    [({"response_ms": 120}, None), ({"response_ms": 2500}, None), ({}, None),
     ({"response_ms": 2501}, "s-1|#apply")],
)  # fmt: skip
def test_only_a_dead_click_has_a_key(attrs, key):
    """A click answered in time makes no record: most clicks, which would each wait
    `period_s` to expire."""
    assert DeadClick().key(decoded(click(0, **attrs))) == key


def test_a_click_without_response_has_a_key_when_it_counts_as_dead():
    assert DeadClick(missing_response_is_dead=True).key(decoded(click(0))) == "s-1|#apply"


def decoded(event: dict) -> Event:
    fields = ("event_id", "type", "time", "user_id", "session_id", "attrs")
    return Event(*(event[field] for field in fields))


class Emitted:
    """A Context that keeps what was emitted."""

    now = T0

    def __init__(self) -> None:
        self.kinds: list[str] = []

    def emit(self, kind, **_):
        self.kinds.append(kind)


def test_a_click_routed_as_dead_under_an_older_limit_is_judged_by_the_current_one():
    """A worker restarted with a higher limit reads items its stage 1 routed under the old."""
    routed = decoded(click(0, response_ms=3000))
    assert DeadClick().key(routed) is not None
    emitted = Emitted()
    DeadClick(dead_after_ms=5000).on_event({}, routed, emitted)
    assert emitted.kinds == []
    DeadClick().on_event({}, routed, emitted)
    assert emitted.kinds == ["dead_click"]
