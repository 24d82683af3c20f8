"""Stage 2 holds a routed message whose items wait in its engine: even when taking it raised
after some of its items were queued (engine_agent.py `_hold_if_taken`), so that its offset is
not committed while those items wait only in memory."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
import pytest
from friction_detector.streams.worker.engine_agent import EngineAgent
from friction_detector.streams.worker.routing import encode_message


class RaisesAfterReading:
    """An engine whose taking raised past the message's reading (a hook that raised)."""

    def take_message(self, raw: bytes) -> tuple[int | None, dict[str, int]]:
        raise RuntimeError("a hook raised")


def agent_over(engine: object) -> EngineAgent:
    agent = EngineAgent.__new__(EngineAgent)  # only what `detect` uses
    agent.detection = SimpleNamespace(get=lambda partition: SimpleNamespace(engine=engine))  # type: ignore[assignment]
    agent.taken = {}
    agent.observe = lambda seconds: None
    return agent


def routed(value: bytes) -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(partition=2, offset=41), value=value)


def item(time_ms: int) -> bytes:
    return orjson.dumps(
        ["slow_checkout", "s1", time_ms, f"e{time_ms}", "page_load", None, "s1", {}]
    )


def test_a_message_whose_taking_raised_after_reading_it_is_held_as_far_as_its_items_reach() -> None:
    agent = agent_over(RaisesAfterReading())
    with pytest.raises(RuntimeError):
        agent.detect(routed(encode_message([item(7), item(9), item(8)])))
    assert agent.taken == {2: [(41, 9)]}


@pytest.mark.parametrize("value", [b"not json", encode_message([]), b'{"items": [["x"]]}'])
def test_a_message_that_took_nothing_is_not_held(value: bytes) -> None:
    agent = agent_over(RaisesAfterReading())
    with pytest.raises(RuntimeError):
        agent.detect(routed(value))
    assert agent.taken == {}
