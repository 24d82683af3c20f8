"""Replay's dead letter of an event a detector raised on says where the event was read and
carries its message as read, as a bad line's does, however long the engine held the event."""

from __future__ import annotations

import io

import orjson
import pytest
from friction_detector.detectors import Context, Detector, Event
from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
from friction_detector.detectors.config import Config
from friction_detector.detectors.schema import CONTRACT_TYPES
from friction_detector.detectors.testing import make_event
from friction_detector.streams.cli import positions
from friction_detector.streams.cli import replay as replay_module
from friction_detector.streams.cli.replay import replay
from friction_detector.streams.sources import sourced_line


class RaisesOnSlowLoads(Detector):
    """Raises on a page load slower than 8 s, as a plugin with a bug would."""

    name = "raises_on_slow_loads"
    description = "raises"
    consumes = {"page_load": CONTRACT_TYPES["page_load"]}

    def state_ttl_ms(self) -> int:
        return 1000

    def key(self, event: Event) -> str | None:
        return event.session_id

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        if event.attrs["duration_ms"] > 8000:
            raise KeyError("missing_attr")


def load(time: str, duration_ms: int, session: str = "s-1") -> dict:
    return make_event("page_load", time, session_id=session, page="/p", duration_ms=duration_ms)


def letters(lines: list[bytes], sourced: bool = False) -> list[dict]:
    dead = io.BytesIO()
    config = Config(detectors=[RaisesOnSlowLoads(), SlowCheckout()])
    source = io.BytesIO(b"".join(line + b"\n" for line in lines))
    replay(source, config, io.BytesIO(), dead, "events.jsonl", sourced=sourced)
    return [orjson.loads(letter) for letter in dead.getvalue().splitlines()]


def test_the_letter_names_the_line_and_carries_it_as_read():
    # Key order and an RFC 3339 time as the producer wrote them; the event is applied only
    # when the watermark passes it, two lines later.
    slow = (
        b'{"type":"page_load","event_id":"e-9","time":"2026-11-22T10:00:01Z","attrs":'
        b'{"page":"/p","duration_ms":9000},"user_id":null,"session_id":"s-1"}'
    )
    lines = [
        orjson.dumps(load("2026-11-22T10:00:00Z", 100)),
        slow,
        orjson.dumps(load("2026-11-22T10:00:05Z", 100)),
        orjson.dumps(make_event("tick", "2026-11-22T11:00:00Z")),
    ]
    (letter,) = letters(lines)
    assert letter["reason"] == "detector_error"
    assert letter["position"] == 2
    assert letter["raw"] == slow.decode()
    assert "raises_on_slow_loads raised KeyError" in letter["detail"]


def test_an_element_of_a_batch_message_is_named_by_its_index_and_written_alone():
    slow = load("2026-11-22T10:00:01Z", 9000)
    batch = b"[" + orjson.dumps(load("2026-11-22T10:00:00Z", 100)) + b"," + orjson.dumps(slow)
    batch += b"]"
    (letter,) = letters([batch, orjson.dumps(make_event("tick", "2026-11-22T11:00:00Z"))])
    assert letter["position"] == "1[1]"
    assert orjson.loads(letter["raw"]) == slow


def test_a_sourced_line_carries_its_message():
    slow = orjson.dumps(load("2026-11-22T10:00:01Z", 9000))
    tick = orjson.dumps(make_event("tick", "2026-11-22T11:00:00Z"))
    (letter,) = letters(
        [sourced_line("events", 0, 7, slow), sourced_line("events", 0, 8, tick)], True
    )
    assert letter["position"] == 1
    assert letter["raw"] == slow.decode()


def test_positions_stay_right_while_those_of_applied_events_are_forgotten(monkeypatch):
    monkeypatch.setattr(positions, "FORGET_AFTER", 8)
    monkeypatch.setattr(replay_module, "_CHECK_EVERY_LINES", 4)
    lines = [
        orjson.dumps(
            load(f"2026-11-22T10:{n // 60:02d}:{n % 60:02d}Z", 9000 if n in (7, 60) else 1)
        )
        for n in range(100)
    ]
    lines.append(orjson.dumps(make_event("tick", "2026-11-22T11:00:00Z")))
    assert [letter["position"] for letter in letters(lines)] == [8, 61]


@pytest.mark.parametrize("held", [0, 5])
def test_forgetting_keeps_the_events_not_yet_applied(held):
    kept = positions.InputPositions()
    events = [Event(f"e-{n}", "page_load", n, None, None, {}) for n in range(10)]
    for n, event in enumerate(events):
        kept.remember((event, n + 1, b"{}", None))
    kept.forget_before(held)
    assert [kept.find(event) for event in events[:held]] == [None] * held
    assert kept.find(events[held]) == (held + 1, b"{}")


def test_an_event_far_ahead_read_first_does_not_keep_the_applied_ones_held() -> None:
    held = positions.InputPositions()
    ahead = Event("ahead", "click", 10**9, None, None, {})
    count = 3 * positions.FORGET_AFTER
    events = [Event(f"e-{i}", "click", i, None, None, {}) for i in range(count)]
    held.remember((ahead, 1, b"{}", None))
    for line, event in enumerate(events, start=2):
        held.remember((event, line, b"{}", None))
        if held.crowded():
            held.forget_before(event.time)  # everything before this one has been applied
    assert held.find(ahead) == (1, b"{}")  # still in flight
    assert held.find(events[-1]) == (len(events) + 1, b"{}")
    assert held.find(events[0]) is None  # applied: forgotten despite the one ahead
    assert len(held._held) <= positions.FORGET_AFTER + 2


def test_replay_forgets_the_applied_events_as_it_goes(monkeypatch):
    """Replay looks at the held events every few lines, and forgets those applied: a long
    replay does not keep every line it read."""
    monkeypatch.setattr(positions, "FORGET_AFTER", 8)
    monkeypatch.setattr(replay_module, "_CHECK_EVERY_LINES", 4)
    most_held = []
    forget_before = positions.InputPositions.forget_before

    def forgetting(self, settled: int) -> None:
        forget_before(self, settled)
        most_held.append(len(self._held))

    monkeypatch.setattr(positions.InputPositions, "forget_before", forgetting)
    lines = [
        orjson.dumps(load(f"2026-11-22T10:{n // 60:02d}:{n % 60:02d}Z", 1)) for n in range(200)
    ]
    letters(lines)
    assert most_held and max(most_held) < 60  # 30 s of lateness: about 31 in flight
