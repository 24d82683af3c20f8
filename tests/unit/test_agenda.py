"""The agenda releases arrivals as a FIFO plus one heap of the early ones would, whatever order
they come in: the order keys are visited decides the order of findings across keys."""

from __future__ import annotations

import heapq
from collections import deque

from friction_detector.detectors.agenda import EARLY_BUCKET_MS, Agenda
from hypothesis import given, settings
from hypothesis import strategies as st

KEYS = ("a/1", "a/2", "b/1")

# Steps: ("arrive", time, key) or ("release", watermark step); times span a few buckets, with
# ties, so arrivals fall before, inside and after the bucket the watermark is in.
steps = st.lists(
    st.one_of(
        st.tuples(st.just("arrive"), st.integers(0, 5 * EARLY_BUCKET_MS), st.sampled_from(KEYS)),
        st.tuples(st.just("release"), st.integers(0, 2 * EARLY_BUCKET_MS), st.just("")),
    ),
    max_size=200,
)


class Model:
    """The agenda's arrivals as they were first written: a FIFO, and a heap of arrivals earlier
    than the FIFO's last."""

    def __init__(self) -> None:
        self.fifo: deque[tuple[int, str, str]] = deque()
        self.heap: list[tuple[int, str, str]] = []

    def arrive(self, arrival: tuple[int, str, str]) -> None:
        if self.fifo and arrival[0] < self.fifo[-1][0]:
            heapq.heappush(self.heap, arrival)
        else:
            self.fifo.append(arrival)

    def release(self, watermark: int) -> list[tuple[int, str, str]]:
        out = []
        while self.fifo and self.fifo[0][0] < watermark:
            out.append(self.fifo.popleft())
        while self.heap and self.heap[0][0] < watermark:
            out.append(heapq.heappop(self.heap))
        return out

    def first(self) -> int | None:
        times = [arrival[0] for arrival in self.fifo] + [a[0] for a in self.heap[:1]]
        return min(times, default=None)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_arrivals_are_released_as_a_fifo_and_one_heap_would(script):
    agenda: Agenda[str] = Agenda()
    model = Model()
    watermark = 0
    for action, value, key in script:
        if action == "arrive":
            arrival = (value, key, "owner of " + key)
            agenda.queue_for(value)(arrival)
            model.arrive(arrival)
        else:
            watermark += value
            expected = model.release(watermark)
            assert agenda.anything_due(watermark) or not expected
            assert list(agenda.due_arrivals(watermark)) == expected
        assert agenda.first_arrival() == model.first()
    assert list(agenda.due_arrivals(10 * EARLY_BUCKET_MS)) == model.release(10 * EARLY_BUCKET_MS)
    assert agenda.first_arrival() is None
