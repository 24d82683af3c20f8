"""Where in replay's input each event the engine may still hand a detector came from.

A detector may raise on an event long after it was read (the engine holds it for the allowed
lateness), and the engine reports only the event. So replay remembers, for each event it
decoded, its position (the line, or `line[index]` for an element of a batch message) and its
message, and the dead letter of an event a detector raised on says where it was and carries
it as read, as a bad line's does. Events are forgotten once every event before their time has
been applied (the engine's settled time).
"""

from __future__ import annotations

from collections import deque

import orjson
from friction_detector.detectors.events import Event

Position = int | str
# Held events past which a look at the front is not enough: every entry is looked at, and the
# bound then grows with what stays held (an engine that holds much, behind a slow source), so
# forgetting costs a constant per event.
FORGET_AFTER = 4096


class InputPositions:
    """(event, position, message as read, batch index) of the events in flight in one replay,
    in the order they were read: `remember` is the queue's own append, the cheapest step a
    per-event loop can take, and the event a detector raised on is near the front (the engine
    applies events about in the order they came), so finding it walks little. A message may
    keep its line end (replay takes it off only where it must); `find` gives it without."""

    def __init__(self) -> None:
        self._held: deque[tuple[Event, Position, bytes, int | None]] = deque()
        # Remember (event, position, message, index): element `index` of a batch message.
        self.remember = self._held.append
        self._limit = FORGET_AFTER

    def crowded(self) -> bool:
        """Whether more are held than at the last look by the bound: time to look again for a
        run whose engine's settled time is costly to read (engine.py scans its arrivals)."""
        return len(self._held) > self._limit

    def forget_before(self, settled: int) -> None:
        """Forget the events whose time is before `settled`: the engine has applied every one
        of them (late events are applied as they arrive, so none of them is missed).

        Called every few lines where the settled time is at hand (the compiled core), so that
        no more is held than the engine holds: an event kept here after the engine let it go
        keeps its message and attributes in memory, and the engine holds its allowed lateness
        of events already. Those at the front go first, at a cost of the ones forgotten; when
        one still waiting there (an event far ahead in time) holds back more than the bound,
        every entry is looked at.
        """
        held = self._held
        while held and held[0][0].time < settled:
            held.popleft()
        if len(held) > self._limit:
            kept = [entry for entry in held if entry[0].time >= settled]
            held.clear()  # the same queue: `remember` appends to it
            held.extend(kept)
            self._limit = max(FORGET_AFTER, 2 * len(held))

    def find(self, event: Event) -> tuple[Position, bytes] | None:
        """Where `event` was read and its message (an element of a batch written alone, as
        the decoder judged it), or None for an event replay did not read (a finding handed to
        a detector over findings)."""
        for held, position, message, index in self._held:
            if held is event:
                if index is None:
                    return position, message.rstrip(b"\r\n")  # as sent, without its line end
                return position, orjson.dumps(orjson.loads(message)[index])
        return None
