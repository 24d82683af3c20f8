"""The watermark follows the slowest input source: a stalled partition's backlog is on time when
it is read, and one source far ahead makes no other source's events late."""

from __future__ import annotations

from contract_stream import SECOND, T0
from friction_detector.detectors.builtin.long_chat_wait import LongChatWait
from friction_detector.detectors.builtin.rage_click import RageClick
from friction_detector.detectors.engine import Engine
from friction_detector.detectors.events import Event

LATENESS_MS = 30_000


def chat(event_id: str, offset_ms: int, conversation: str, **attrs) -> Event:
    kind = "chat_message" if attrs else "chat_started"
    return Event(event_id, kind, T0 + offset_ms, "u-1", None, {"conversation_id": conversation,
                                                              **attrs})  # fmt: skip


def engine(store: dict | None = None) -> Engine:
    return Engine(
        [LongChatWait(slow_after_s=2, unanswered_after_s=6)],
        allowed_lateness_ms=LATENESS_MS,
        store=store,
    )


def take(e: Engine, event: Event) -> None:
    e.take(event, e.routes(event))


def kinds(findings) -> list[str]:
    return [f.kind for f in findings]


def test_a_stalled_source_holds_the_watermark_so_its_backlog_is_on_time() -> None:
    e = engine()
    take(e, chat("a", 0, "c-1"))  # opened on source A
    e.advance_sources({"in:0": T0, "in:1": T0})
    # Source B races ahead by ten minutes; A stalls (its member was killed).
    assert e.advance_sources({"in:1": T0 + 600 * SECOND}) == []
    assert e.watermark == T0 - LATENESS_MS
    # A's backlog arrives: the agent answered after one second, which is not late.
    take(e, chat("b", SECOND, "c-1", author="agent"))
    assert e.advance_sources({"in:0": T0 + 600 * SECOND}) == []
    assert e.watermark == T0 + 600 * SECOND - LATENESS_MS


def test_without_sources_the_same_backlog_would_have_been_late() -> None:
    """The old rule, newest event anywhere, as a control: the reply lands behind the watermark."""
    e = engine()
    e.process(chat("a", 0, "c-1"))
    assert kinds(e.process(Event("x", "heartbeat", T0 + 600 * SECOND, None, None, {}))) == [
        "unanswered"
    ]
    assert e.watermark > T0 + SECOND  # the reply that follows is late


def test_an_expected_source_holds_the_watermark_until_it_reports() -> None:
    e = engine()
    e.expect_sources(["in:0", "in:1"])
    take(e, chat("a", 0, "c-1"))
    assert e.advance_sources({"in:0": T0 + 600 * SECOND}) == []
    assert e.watermark < T0
    assert kinds(e.advance_sources({"in:1": T0 + 600 * SECOND})) == ["unanswered"]


def test_progress_never_goes_back_and_is_kept_in_the_store_for_a_restart() -> None:
    store: dict = {}
    e = engine(store)
    e.advance_sources({"in:0": T0 + 50 * SECOND, "in:1": T0 + 40 * SECOND})
    e.advance_sources({"in:0": T0})  # a re-read of old input
    assert e.sources == {"in:0": T0 + 50 * SECOND, "in:1": T0 + 40 * SECOND}

    restarted = engine(store)
    restarted.restore()
    assert restarted.sources == e.sources


def test_a_source_of_a_topic_no_longer_read_stops_holding_the_watermark() -> None:
    e = engine()
    e.advance_sources({"old:0": T0, "in:0": T0 + 100 * SECOND})
    assert e.watermark == T0 - LATENESS_MS
    e.forget_sources(lambda source: source.startswith("in:"))
    e.advance_sources({"in:0": T0 + 101 * SECOND})
    assert e.watermark == T0 + 101 * SECOND - LATENESS_MS


def test_a_late_events_findings_are_taken_at_once_without_progress() -> None:
    """A late event is applied when it is taken; the worker takes its findings with the same
    batch, which also writes the state that has seen the event, whether or not the batch
    brings progress (stage 3's messages never do)."""
    e = Engine([RageClick()], allowed_lateness_ms=LATENESS_MS)
    e.advance_sources({"in:0": T0 + 600 * SECOND})
    clicks = [
        Event(f"c{i}", "click", T0 + i * 100, "u-1", "s-1", {"target": "#pay"}) for i in range(3)
    ]
    for click in clicks:
        e.take(click, e.routes(click))

    (finding,) = e.take_findings()
    assert (finding.kind, finding.time_ms) == ("rage_click", T0 + 200)
    assert e.take_findings() == []  # taken once
