"""The engine: idle expiry, bounded state, restart from stored records, and plain-data records."""

from __future__ import annotations

import orjson
import pytest
from contract_stream import SECOND, T0, arrival_order, contract_detectors, event_streams
from friction_detector.detectors.builtin.late_reset_email import LateResetEmail
from friction_detector.detectors.builtin.long_chat_wait import LongChatWait
from friction_detector.detectors.builtin.repeated_form_submission import RepeatedFormSubmission
from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
from friction_detector.detectors.engine import DEFAULT_DEDUP_HORIZON_MS, Engine, store_key
from friction_detector.detectors.events import Event
from friction_detector.detectors.testing import DetectorHarness, make_event
from hypothesis import given, settings
from hypothesis import strategies as st

LATENESS_MS = 30_000


def event(event_type: str, offset_ms: int, event_id: str, session: str = "s-1", **attrs) -> Event:
    return Event(event_id, event_type, T0 + offset_ms, "u-1", session, attrs)


def first_event_of(detector) -> dict:
    """An event the detector keys on, at T0."""
    attrs = {
        "slow_checkout": ("page_load", {"page": "/checkout", "duration_ms": 9000}),
        "late_reset_email": ("password_reset_requested", {"request_id": "r-1"}),
        "long_chat_wait": ("chat_started", {"conversation_id": "c-1"}),
        "repeated_form_submission": ("form_submit", {"form_id": "f", "outcome": "error"}),
    }[detector.name]
    return make_event(attrs[0], T0, **attrs[1])


def kept_for(detector) -> int:
    """How long the key of `first_event_of` lives after it: its lifetime, unless a finding's
    open outcome keeps it (long_chat_wait's chat is unanswered at its deadline), or the journey
    the event starts (a form's submit, a checkout page load) until its window ends."""
    lifetime = max(detector.state_ttl_ms(), DEFAULT_DEDUP_HORIZON_MS)
    if detector.name == "long_chat_wait":
        deadline = detector.unanswered_after_s * SECOND + detector.journey_window_ms()
        return max(lifetime, deadline)
    if detector.name in ("repeated_form_submission", "slow_checkout"):
        return max(lifetime, detector.journey_window_ms())
    return lifetime


# -- expiry of idle state ----------------------------------------------------------------------


@pytest.mark.parametrize("detector", contract_detectors(), ids=lambda d: d.name)
def test_idle_key_is_kept_until_the_watermark_passes_its_lifetime(detector):
    lifetime = max(detector.state_ttl_ms(), DEFAULT_DEDUP_HORIZON_MS)
    harness = DetectorHarness(detector)
    harness.feed(first_event_of(detector))
    harness.advance(T0 + lifetime)
    assert len(harness.engine.store) == 1
    assert harness.engine.state_keys() == {detector.name: 1}


@pytest.mark.parametrize("detector", contract_detectors(), ids=lambda d: d.name)
def test_idle_key_is_dropped_once_the_watermark_passes_its_lifetime(detector):
    harness = DetectorHarness(detector)
    harness.feed(first_event_of(detector))
    harness.advance(T0 + kept_for(detector))
    assert len(harness.engine.store) == 1
    harness.advance(T0 + kept_for(detector) + 1)
    assert len(harness.engine.store) == 0
    assert harness.engine.state_keys() == {detector.name: 0}


def test_slow_checkout_state_lives_for_its_30_minute_period():
    assert SlowCheckout().state_ttl_ms() == 30 * 60 * SECOND


def test_key_lifetime_is_at_least_the_dedup_horizon():
    detector = RepeatedFormSubmission()
    assert detector.state_ttl_ms() < DEFAULT_DEDUP_HORIZON_MS
    harness = DetectorHarness(detector)
    harness.feed(first_event_of(detector))
    harness.advance(T0 + detector.state_ttl_ms() + 1)
    assert len(harness.engine.store) == 1


def test_later_event_postpones_expiry():
    harness = DetectorHarness(SlowCheckout())
    page = {"page": "/checkout", "duration_ms": 100}
    harness.feed(make_event("page_load", T0, **page), make_event("page_load", T0 + 600_000, **page))
    harness.advance(T0 + 1_800_001)
    assert len(harness.engine.store) == 1
    harness.advance(T0 + 600_000 + 1_800_001)
    assert len(harness.engine.store) == 0


def test_key_with_a_pending_deadline_is_not_dropped_before_it():
    detector = LateResetEmail(missing_after_s=3600)
    harness = DetectorHarness(detector)
    harness.feed(first_event_of(detector))
    harness.advance(T0 + 3600 * SECOND)
    assert len(harness.engine.store) == 1
    assert harness.advance(T0 + 3600 * SECOND + 1)[0].kind == "missing"
    harness.advance(T0 + 3600 * SECOND + 2)
    assert len(harness.engine.store) == 0


def test_state_keys_stay_bounded_on_a_long_stream_of_many_sessions():
    # A new session every 10 s for 12 hours, each with a few checkout loads and submits.
    engine = Engine(contract_detectors(), allowed_lateness_ms=LATENESS_MS)
    most = 0
    n = 0
    for i in range(12 * 360):
        start = i * 10 * SECOND
        session = f"s-{i}"
        for step in range(3):
            n += 1
            engine.process(
                event(
                    "page_load", start + step, f"p-{n}", session, page="/checkout", duration_ms=5e3
                )
            )
            engine.process(
                event("form_submit", start + step, f"f-{n}", session, form_id="f", outcome="error")
            )
        most = max(most, len(engine.store))
        assert sum(engine.state_keys().values()) == len(engine.store)
    # Keys live 30 min: slow_checkout's period, and the outcome window of every finding (each
    # session's submits make a repeated_form_submission finding): 180 + 180 sessions' worth.
    assert most <= 180 + 180 + 10
    engine.advance(T0 + 13 * 3600 * SECOND)
    assert len(engine.store) == 0
    assert engine.state_keys() == dict.fromkeys(engine.detectors, 0)


def test_reused_key_after_expiry_starts_afresh_whatever_the_arrival_order():
    # r-0 expires 900 s after its request; the second request at 1000 s must then open a new
    # deadline, whether or not the request at 990 s of another key arrived before it.
    events = {
        "a": event("password_reset_requested", 0, "a", request_id="r-0"),
        "b": event("password_reset_requested", 990 * SECOND, "b", request_id="r-x"),
        "c": event("password_reset_requested", 1000 * SECOND, "c", request_id="r-0"),
        "d": event("password_reset_requested", 1700 * SECOND, "d", request_id="r-y"),
    }

    def missing(order: str) -> list[tuple[int, str]]:
        engine = Engine([LateResetEmail()], allowed_lateness_ms=LATENESS_MS)
        found = [f for key in order for f in engine.process(events[key])]
        return sorted((f.time_ms - T0, f.subject["request_id"]) for f in found)

    assert (
        missing("acbd")
        == missing("abcd")
        == [
            (600 * SECOND, "r-0"),
            (1590 * SECOND, "r-x"),
            (1600 * SECOND, "r-0"),
        ]
    )


# -- duplicates and late events at the engine --------------------------------------------------


def test_redelivery_behind_the_watermark_is_still_a_duplicate():
    first, second = (
        make_event("form_submit", T0 + i * SECOND, form_id="f", outcome="error") for i in range(2)
    )
    harness = DetectorHarness(RepeatedFormSubmission())
    harness.feed(first, second, first)
    harness.advance(T0 + 3600 * SECOND)
    assert harness.late == 1
    assert harness.duplicates == 1
    assert harness.findings == []


def test_one_event_routed_to_two_detectors_is_no_duplicate():
    class OtherCheckout(SlowCheckout):
        name = "other_checkout"

    harness = DetectorHarness(SlowCheckout(), OtherCheckout())
    harness.feed(make_event("page_load", T0, page="/checkout", duration_ms=9000))
    harness.advance(T0 + SECOND)
    assert sorted(f.detector for f in harness.findings) == ["other_checkout", "slow_checkout"]
    assert harness.duplicates == 0


def test_event_of_an_unconsumed_type_creates_no_state():
    harness = DetectorHarness(*contract_detectors())
    harness.feed(make_event("page_view", T0, page="/checkout"))
    harness.advance(T0 + SECOND)
    assert harness.engine.store == {}


# -- records are plain data and survive a restart -----------------------------------------------


def run(engine: Engine, events: list[Event]) -> list:
    return [finding for e in events for finding in engine.process(e)]


@settings(max_examples=100, deadline=None)
@given(event_streams(), st.randoms(use_true_random=False))
def test_records_round_trip_through_orjson(events, rng):
    engine = Engine(contract_detectors(), allowed_lateness_ms=LATENESS_MS)
    run(engine, arrival_order(events, LATENESS_MS, rng))
    for skey, record in engine.store.items():
        assert orjson.loads(orjson.dumps(record)) == record, skey


@settings(max_examples=100, deadline=None)
@given(event_streams(), st.randoms(use_true_random=False), st.floats(0, 1))
def test_restore_after_restart_gives_the_same_findings_as_an_uninterrupted_run(events, rng, cut_at):
    arrivals = arrival_order(events, LATENESS_MS, rng)
    cut = int(len(arrivals) * cut_at)
    uninterrupted = run(Engine(contract_detectors(), allowed_lateness_ms=LATENESS_MS), arrivals)

    before = Engine(contract_detectors(), allowed_lateness_ms=LATENESS_MS)
    found = run(before, arrivals[:cut])
    stored = orjson.loads(orjson.dumps(before.store))
    after = Engine(contract_detectors(), allowed_lateness_ms=LATENESS_MS, store=stored)
    after.restore()
    assert after.state_keys() == before.state_keys()
    found += run(after, arrivals[cut:])

    def by_time(findings: list) -> list[dict]:
        return sorted((f.to_dict() for f in findings), key=lambda f: (f["time"], f["finding_id"]))

    assert by_time(found) == by_time(uninterrupted)


def test_restored_engine_fires_a_deadline_set_before_the_restart():
    before = Engine([LateResetEmail(), LongChatWait()], allowed_lateness_ms=LATENESS_MS)
    run(before, [event("password_reset_requested", 0, "e-1", request_id="r-1")])
    run(before, [event("chat_started", 60 * SECOND, "e-2", conversation_id="c-1")])
    after = Engine(
        [LateResetEmail(), LongChatWait()],
        allowed_lateness_ms=LATENESS_MS,
        store=orjson.loads(orjson.dumps(before.store)),
    )
    after.restore()
    # An event no detector consumes still moves the watermark.
    found = run(after, [event("page_view", 2000 * SECOND, "e-3")])
    assert sorted((f.detector, f.kind, f.time_ms - T0) for f in found) == [
        ("late_reset_email", "missing", 600 * SECOND),
        ("long_chat_wait", "unanswered", 660 * SECOND),
    ]


def test_restore_ignores_records_of_detectors_no_longer_enabled():
    before = Engine([LateResetEmail(), SlowCheckout()])
    run(before, [event("password_reset_requested", 0, "e-1", request_id="r-1")])
    run(before, [event("page_load", 0, "e-2", page="/checkout", duration_ms=1)])
    after = Engine([SlowCheckout()], store=orjson.loads(orjson.dumps(before.store)))
    after.restore()
    assert after.state_keys() == {"slow_checkout": 1}


def test_settled_is_the_watermark_when_nothing_waits_behind_a_later_arrival():
    engine = Engine([SlowCheckout()], allowed_lateness_ms=10 * SECOND)
    engine.process(event("page_load", 50 * SECOND, "e-1", page="/checkout", duration_ms=9000))
    engine.process(event("page_view", 80 * SECOND, "e-2", page="/"))
    assert engine.settled() == engine.watermark == T0 + 70 * SECOND


def test_settled_stays_before_an_event_queued_behind_a_later_arrival():
    """The watermark passes 95 s, but the load at 95 s waits behind the arrival at 100 s: its
    finding is not out yet, so the settled time stays at 95 s until it is."""
    engine = Engine([SlowCheckout()], allowed_lateness_ms=10 * SECOND)
    engine.process(event("page_load", 100 * SECOND, "e-b", session="s-b", page="/checkout",
                         duration_ms=9000))  # fmt: skip
    engine.process(event("page_load", 95 * SECOND, "e-a", session="s-a", page="/checkout",
                         duration_ms=9000))  # fmt: skip
    assert engine.process(event("page_view", 106 * SECOND, "e-c", session="s-c", page="/")) == []
    assert engine.watermark == T0 + 96 * SECOND
    assert engine.settled() == T0 + 95 * SECOND
    found = engine.process(event("page_view", 111 * SECOND, "e-d", session="s-d", page="/"))
    assert [f.subject for f in found] == [{"session_id": "s-b"}, {"session_id": "s-a"}]
    assert engine.settled() == engine.watermark


def test_where_the_watermark_follows_sources_an_event_behind_a_later_arrival_is_not_held():
    """Read from two sources interleaved, the load at 95 s comes after the one at 100 s: it is
    released once the slowest source passes 95 s, not held until every source passes 100 s."""
    engine = Engine([SlowCheckout()], allowed_lateness_ms=0)
    engine.advance_sources({"in:0": T0, "in:1": T0})
    engine.process_from("in:0", event("page_load", 100 * SECOND, "e-b", session="s-b",
                                      page="/checkout", duration_ms=9000))  # fmt: skip
    engine.process_from("in:1", event("page_load", 95 * SECOND, "e-a", session="s-a",
                                      page="/checkout", duration_ms=9000))  # fmt: skip
    found = engine.process_from("in:1", event("page_view", 96 * SECOND, "e-c", session="s-c",
                                              page="/"))  # fmt: skip
    assert engine.watermark == T0 + 96 * SECOND
    assert [f.subject for f in found] == [{"session_id": "s-a"}]
    assert engine.settled() == T0 + 96 * SECOND  # nothing before the watermark waits
    found = engine.advance_sources({"in:0": T0 + 101 * SECOND, "in:1": T0 + 101 * SECOND})
    assert [f.subject for f in found] == [{"session_id": "s-b"}]
    assert engine.settled() == engine.watermark


def test_settled_stays_before_events_taken_and_not_yet_released():
    """The worker takes a message's items, then moves the watermark: in between, the settled
    time is the earliest event still waiting, wherever it queued."""
    engine = Engine([SlowCheckout()], allowed_lateness_ms=0)
    engine.advance_sources({"in:0": T0 + 10 * SECOND})
    later = event("page_load", 30 * SECOND, "e-b", session="s-b", page="/checkout",
                  duration_ms=9000)  # fmt: skip
    earlier = event("page_load", 20 * SECOND, "e-a", session="s-a", page="/checkout",
                    duration_ms=9000)  # fmt: skip
    engine.take(later, engine.routes(later))
    engine.take(earlier, engine.routes(earlier))  # out of order: it waits in the agenda's heap
    assert engine.settled() == T0 + 10 * SECOND
    found = engine.advance_sources({"in:0": T0 + 25 * SECOND})
    assert [f.subject for f in found] == [{"session_id": "s-a"}]
    assert engine.settled() == T0 + 25 * SECOND
    assert [f.subject for f in engine.advance_sources({"in:0": T0 + 31 * SECOND})] == [
        {"session_id": "s-b"}
    ]


class CopyingStore(dict):
    """A store that keeps a serialized copy of each record, as the worker's changelogged table
    does: a change the engine makes in place and does not write back is lost."""

    def __getitem__(self, skey):
        return orjson.loads(super().__getitem__(skey))

    def get(self, skey, default=None):
        raw = super().get(skey)
        return default if raw is None else orjson.loads(raw)

    def __setitem__(self, skey, record) -> None:
        super().__setitem__(skey, orjson.dumps(record))

    def items(self):
        return [(skey, orjson.loads(raw)) for skey, raw in super().items()]

    def values(self):
        return [orjson.loads(raw) for raw in super().values()]


@settings(max_examples=100, deadline=None)
@given(event_streams(), st.randoms(use_true_random=False))
def test_a_store_that_copies_records_hears_every_change(events, rng):
    """A plain dict holds the records and is not written back to; any other store is, after
    every change, so it ends with the same records and the engine finds the same."""
    arrivals = arrival_order(events, LATENESS_MS, rng)
    in_place = Engine(contract_detectors(), allowed_lateness_ms=LATENESS_MS)
    copied = Engine(contract_detectors(), allowed_lateness_ms=LATENESS_MS, store=CopyingStore())
    found_in_place = run(in_place, arrivals) + in_place.finish()
    found_copied = run(copied, arrivals) + copied.finish()
    assert [f.to_dict() for f in found_copied] == [f.to_dict() for f in found_in_place]
    assert dict(copied.store.items()) == in_place.store
    assert copied.take_outcomes() == in_place.take_outcomes()


def test_a_dropped_key_starts_afresh_and_its_waiting_events_and_count_go_with_it():
    harness = DetectorHarness(SlowCheckout(), allowed_lateness_ms=10 * SECOND)
    slow = {"page": "/checkout", "duration_ms": 9000}
    harness.feed(make_event("page_load", T0, **slow), make_event("page_load", T0 + SECOND, **slow))
    assert len(harness.advance(T0 + 1)) == 1  # the first slow load; the second waits
    key = store_key("slow_checkout", "s-1")

    harness.engine.drop(key)

    assert harness.engine.state_keys() == {"slow_checkout": 0}
    assert harness.advance(T0 + 2 * SECOND) == []  # its waiting event went with it
    again = harness.feed(make_event("page_load", T0 + 3 * SECOND, **slow))
    again += harness.advance(T0 + 4 * SECOND)
    assert len(again) == 1  # within the period, yet found: the key started afresh
    assert harness.engine.state_keys() == {"slow_checkout": 1}


def test_dropping_the_sources_progress_or_a_key_not_held_changes_nothing():
    engine = Engine([SlowCheckout()])
    engine.advance_sources({"events:0": T0})
    stored = dict(engine.store)

    engine.drop(engine.sources_key)
    engine.drop(store_key("slow_checkout", "nobody"))

    assert engine.store == stored
    assert engine.state_keys() == {"slow_checkout": 0}
