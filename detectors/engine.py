"""The detection core: keyed state, event time, the watermark, deadlines, de-duplication, expiry.

Events wait in their key's record until the watermark passes them; each key then sees its events
in event-time order (ties by `event_id`) with its deadlines interleaved (an event at a deadline's
exact time comes first). Keys are independent, so any arrival order within the allowed lateness
gives the same findings, in replay and in the worker alike. Every record is plain data in a
mutable mapping: a dict in replay, changed in place, or the worker's table, to which each changed
record is written back; only replay keeps its waiting events as Events (`keep_events`). The
agenda that says when a key needs attention is derived from the records and rebuilt by `restore`.

A finding of a detector that declares a `Journey` leaves an open outcome in its key's record
(`o`: finding id, kind, finding time, deadline, segment); the key's events and deadlines decide it
in the same event-time order, so outcomes too are the same for any arrival order within the
lateness. Beside them the record holds at most one open journey (`j`: start, deadline, segment),
opened by an event the detector says starts one (`starts_journey`) or by a finding: one that no
finding interrupted is decided by the same rule and window and counted, the base rate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence

import orjson
from friction_detector.detectors.agenda import Agenda
from friction_detector.detectors.api import Detector
from friction_detector.detectors.events import Event, event_from_fields
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.observer import EngineObserver
from friction_detector.detectors.outcomes import ABANDONED, COMPLETED, JourneyOutcome, Outcome

DEFAULT_ALLOWED_LATENESS_MS = 30_000
DEFAULT_DEDUP_HORIZON_MS = 15 * 60_000

_DEADLINE, _EXPIRY = 1, 2
_ID, _TIME = Event._fields.index("event_id"), Event._fields.index("time")  # in pending items
_O_ID, _O_KIND, _O_FOUND, _O_DEADLINE, _O_SEGMENT = range(5)  # in a record's open outcomes, `o`
# In a record's open journey, `j`; its segment is None once a finding interrupted it: then its
# findings' outcomes count it, and it only keeps the key from opening another meanwhile.
_J_START, _J_DEADLINE, _J_SEGMENT = range(3)
_DEDUP_TRIM_AT = 8  # a key remembers at least this many ids, older ones only within the horizon
NO_WATERMARK = -(2**62)  # the watermark (and `settled`) before any event time is known
KEY_SEPARATOR = "/"
# The store key of the input sources' progress (`Engine.advance_sources`); never a detector's.
SOURCES_KEY = "~sources"


def read_routed_message(raw: bytes) -> tuple[list[list], dict[str, int]]:
    """The items and progress of a routed message as stage 1 writes it (`take_message`); a
    message or an item not as it writes them raises ValueError (orjson's is one)."""
    message = orjson.loads(raw)
    if not isinstance(message, dict):
        raise ValueError("not a routed message: not a JSON object")
    items, progress = message.get("items"), message.get("progress")
    items = [] if items is None else items
    progress = {} if progress is None else progress
    if not isinstance(items, list) or not all(_is_item(item) for item in items):
        raise ValueError(
            "a routed item is [detector or [detectors], key, time, id, type, user, session,"
            " attributes] with a whole number of ms for its time"
        )
    if not isinstance(progress, dict) or not all(_is_ms(t) for t in progress.values()):
        raise ValueError("a routed message's progress maps each source to a time in ms")
    return items, progress


def _is_item(item: object) -> bool:
    return (
        isinstance(item, list)
        and len(item) == 8
        and _is_names(item[0])
        and isinstance(item[1], str)
        and _is_ms(item[2])
        and isinstance(item[3], str)
    )


def _is_names(value: object) -> bool:
    """A routed item's detector: one name, or a list of one or more, each once."""
    if isinstance(value, str):
        return True
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(name, str) for name in value)
        and len(set(value)) == len(value)
    )


def _is_ms(value: object) -> bool:
    """A time in ms as the compiled core reads one: a whole number of 64 bits."""
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def store_key(detector: str, key: str) -> str:
    """The state key of one detector's key; detector names never contain the separator."""
    return detector + KEY_SEPARATOR + key


class _Reaction:
    """The `Context` handed to a detector: bound to one record for the length of one reaction."""

    __slots__ = ("emitted", "observer", "agenda", "detector", "record", "skey", "now", "window")
    # Set by the engine before each reaction.
    detector: Detector
    record: dict
    skey: str
    now: int
    window: int  # the detector's journey window in ms; 0 without a journey

    def __init__(
        self, emitted: list[Finding], observer: EngineObserver, agenda: Agenda[Detector]
    ) -> None:
        # Not the engine itself: a cycle would keep all its state from reference counting.
        self.emitted = emitted
        self.observer = observer
        self.agenda = agenda

    def emit(
        self,
        kind: str,
        *,
        severity: str,
        subject: dict,
        summary: str,
        evidence: dict,
        user_id: str | None = None,
        session_id: str | None = None,
        segment: str = "",
        time_ms: int | None = None,
    ) -> None:
        finding = Finding(
            detector=self.detector.name,
            kind=kind,
            severity=severity,
            time_ms=self.now if time_ms is None else time_ms,
            subject=subject,
            summary=summary,
            evidence=evidence,
            user_id=user_id,
            session_id=session_id,
            segment=segment,
        )
        self.emitted.append(finding)
        self.observer.on_finding(finding)
        journey = self.detector.journey
        if (
            journey is not None
            and kind in journey.kinds
            and self.detector.interrupts_journey(finding)
        ):
            record = self.record
            deadline = finding.time_ms + self.window
            # Plain data: the worker's table changelogs the record.
            segment = self.detector.journey_segment(finding)
            open_outcome = [finding.finding_id, kind, finding.time_ms, deadline, segment]
            record.setdefault("o", []).append(open_outcome)
            self.agenda.wake(deadline, _DEADLINE, self.skey)
            self.observer.on_journey_opened(self.detector.name, segment, True)
            # The journey it interrupted is no longer one without friction, and none opens
            # until the finding's window ends: a later start must not count the same order.
            journey = record.get("j")
            if journey is None:
                record["j"] = [finding.time_ms, deadline, None]
            else:
                journey[_J_SEGMENT] = None
                journey[_J_DEADLINE] = max(journey[_J_DEADLINE], deadline)

    def schedule(self, tag: str, at_ms: int) -> None:
        self.record["t"][tag] = at_ms
        self.agenda.wake(at_ms, _DEADLINE, self.skey)

    def cancel(self, tag: str) -> None:
        self.record["t"].pop(tag, None)

    def observe(self, measurement: str, seconds: float, segment: str = "") -> None:
        self.observer.on_measurement(self.detector.name, measurement, seconds, segment, self.now)


class Engine:
    """Applies detectors to a stream of events in event time."""

    def __init__(
        self,
        detectors: Sequence[Detector],
        *,
        allowed_lateness_ms: int = DEFAULT_ALLOWED_LATENESS_MS,
        dedup_horizon_ms: int = DEFAULT_DEDUP_HORIZON_MS,
        store: MutableMapping[str, dict] | None = None,
        observer: EngineObserver | None = None,
        sources_key: str = SOURCES_KEY,
        keep_events: bool = False,
    ) -> None:
        """`keep_events`: a waiting event stays the Event itself in its key's record, not a
        plain list, where the store is a plain dict that never leaves the process (replay):
        that saves a copy on arrival and a rebuild on release, but such records are no longer
        plain data."""
        self.detectors = {d.name: d for d in detectors}
        self.allowed_lateness_ms = allowed_lateness_ms
        self.dedup_horizon_ms = dedup_horizon_ms
        self.store: MutableMapping[str, dict] = {} if store is None else store
        self.observer = observer or EngineObserver()
        self.max_event_time = NO_WATERMARK
        self.watermark = NO_WATERMARK
        # Event time each input source (a Kafka partition) has reached; None: expected, not yet
        # heard from. Kept in the store under `sources_key`, so a restart resumes from it.
        self.sources: dict[str, int | None] = {}
        self.sources_key = sources_key
        self.agenda: Agenda[Detector] = Agenda()
        self._routes: dict[str, list[Detector]] = {}
        for detector in detectors:
            for event_type in detector.consumes:
                self._routes.setdefault(event_type, []).append(detector)
        self._lifetime = {d.name: max(d.state_ttl_ms(), dedup_horizon_ms) for d in detectors}
        self._keys = dict.fromkeys(self.detectors, 0)
        self._keys_changed: set[str] = set()  # detectors whose count the observer has not heard
        self._windows = {d.name: d.journey_window_ms() for d in detectors}
        self._emitted: list[Finding] = []
        self._outcomes: list[Outcome] = []
        self._reaction = _Reaction(self._emitted, self.observer, self.agenda)
        # A plain dict holds the records themselves, changed in place; any other store (the
        # worker's, which changelogs what is written) hears of each change by a write back.
        self._write_back = type(self.store) is not dict
        # What waits in a record's pending list: plain data (the worker's table serializes
        # records), unless the run keeps events in a dict of its own (`keep_events`).
        keep = keep_events and not self._write_back
        self._waiting: Callable[[Event], Event | list] = _same if keep else list
        # The base observer's hook does nothing: the watermark moves on nearly every event.
        self._tell_watermark = type(self.observer).on_watermark is not EngineObserver.on_watermark

    # -- input ---------------------------------------------------------------------------

    def routes(self, event: Event) -> list[tuple[Detector, str]]:
        """The (detector, key) pairs an event goes to; the worker partitions by these."""
        routed = []
        for detector in self._routes.get(event.type, ()):
            try:
                key = detector.key(event)
            except Exception as error:  # a detector's bug must not stop the stream
                self.observer.on_detector_error(detector.name, event, error)
                continue
            if key is not None:
                routed.append((detector, key))
        return routed

    def process(self, event: Event) -> list[Finding]:
        """Take one event; return the findings that became due."""
        self.observer.on_event(event)
        detectors = self._routes.get(event.type)
        time = event.time
        if detectors is None:
            pass
        elif time < self.watermark:  # late: rare, and told to the observer before routing
            self._take(event, self.routes(event), self.agenda.arrivals.append)
        else:
            self._queue_routed(event, detectors)
        if time > self.max_event_time:
            self.max_event_time = time
            self._release(time - self.allowed_lateness_ms)
        return self._take_emitted() if self._emitted else []

    def process_from(self, source: str, event: Event) -> list[Finding]:
        """Take one event read from `source` (a Kafka partition); the watermark follows the
        slowest source (`advance_sources`), as in the worker."""
        self.observer.on_event(event)
        if event.type in self._routes:
            self._take(event, self.routes(event), self.agenda.queue_for(event.time))
        return self.advance_sources({source: event.time})

    def take(self, event: Event, routes: Iterable[tuple[Detector, str]]) -> None:
        """Queue an event already routed without moving event time: the caller moves the
        watermark by how far each input source has read (`advance_sources`)."""
        self._take(event, routes, self.agenda.queue_for(event.time))

    def take_message(self, raw: bytes) -> tuple[int | None, dict[str, int]]:
        """`take` for the items of a routed message (the worker's stage 2) as stage 1 writes it,
        `{"items": [...], "progress": {...}}`, each item `[detector, key, time, id, type, user,
        session, attributes]`, its `detector` one name or a list of the names that take the
        event with the same key (one item for all of them); a detector this engine does not run
        is skipped (routed before a configuration change disabled it). Returns the latest item
        time (None without items) and the message's progress, for `advance_sources`. A message
        or an item not as stage 1 writes them raises ValueError before any item is taken."""
        items, progress = read_routed_message(raw)
        detectors = self.detectors
        for names, key, time_ms, event_id, event_type, user_id, session_id, attrs in items:
            routes = [
                (detector, key)
                for name in ((names,) if type(names) is str else names)
                if (detector := detectors.get(name)) is not None
            ]
            if routes:
                event = event_from_fields(
                    (event_id, event_type, time_ms, user_id, session_id, attrs)
                )
                self._take(event, routes, self.agenda.queue_for(time_ms))
        return max((item[2] for item in items), default=None), progress

    def _take(
        self, event: Event, routes: Iterable[tuple[Detector, str]], arrive: Callable[[tuple], None]
    ) -> None:
        """Queue an event in each of its keys' records, or apply it at once when it is late.

        `arrive` queues its arrivals in the agenda. Where the watermark follows the newest event
        (`process`), the agenda's FIFO: an arrival behind a later one waits at most the allowed
        lateness longer. Where it follows the slowest source (`take`, `process_from`), the
        FIFO or, for an arrival earlier than the FIFO's last, the agenda's heap: sources are
        read interleaved, and behind a later arrival an event would wait until every source
        had passed it."""
        late = event.time < self.watermark
        if late:
            self.observer.on_late(event, self.watermark)
        store = self.store
        write_back = self._write_back
        time = event.time
        item = None
        for detector, key in routes:
            skey = detector.name + KEY_SEPARATOR + key
            record = store.get(skey)
            if record is None:
                record = self._new_record(detector, skey, time)
                if not write_back:  # a written-back record is written once, when queued or applied
                    store[skey] = record
            if late:
                self._advance_key(detector, skey, record, self.watermark)
                self._apply_event(detector, skey, record, event)
                self._advance_key(detector, skey, record, self.watermark)  # deadlines it passed
                continue
            if item is None:
                item = self._waiting(event)
            pending = record["p"]
            if pending and pending[-1][_TIME] >= time:
                _insert_pending(pending, item)
            else:
                pending.append(item)  # in order: the usual case
            arrive((time, skey, detector))
            if write_back:
                store[skey] = record

    def _queue_routed(self, event: Event, detectors: list[Detector]) -> None:
        """`_take` of an event on time, for `process`: routed while it is queued, so no list of
        routes is built. Its keys' records and the agenda end up as `_take` leaves them."""
        store = self.store
        write_back = self._write_back
        arrive = self.agenda.arrivals.append
        time = event.time
        item = self._waiting(event)
        for detector in detectors:
            try:
                key = detector.key(event)
            except Exception as error:  # a detector's bug must not stop the stream
                self.observer.on_detector_error(detector.name, event, error)
                continue
            if key is None:
                continue
            skey = detector.name + KEY_SEPARATOR + key
            record = store.get(skey)
            if record is None:
                record = self._new_record(detector, skey, time)
                if not write_back:  # a written-back record is written once, below
                    store[skey] = record
            pending = record["p"]
            if pending and pending[-1][_TIME] >= time:
                _insert_pending(pending, item)
            else:
                pending.append(item)  # in order: the usual case
            arrive((time, skey, detector))
            if write_back:
                store[skey] = record

    def advance(self, watermark: int) -> list[Finding]:
        """Move the watermark forward without an event: the worker does so when input is idle."""
        self._release(watermark)
        return self._take_emitted()

    def finish(self) -> list[Finding]:
        """The end of a finite input (replay): apply every key's waiting events, each key's
        deadlines before them in order. The watermark stays, so a key's deadline after its last
        event and after the watermark does not fire (`deadlines_ahead` counts them)."""
        detectors = self.detectors
        advance_key = self._advance_key
        for skey, record in list(self.store.items()):
            pending = record.get("p")  # first: most keys have none, and this is cheaper
            if not pending:
                continue
            detector = detectors.get(skey.split(KEY_SEPARATOR, 1)[0])
            if detector is not None:
                advance_key(detector, skey, record, pending[-1][_TIME] + 1)
        return self._take_emitted()

    def deadlines_ahead(self) -> int:
        """Deadlines set and not yet fired: after `finish`, those the input ended before."""
        detectors = self.detectors
        count = 0
        for skey, record in self.store.items():
            timers = record.get("t")  # first: most keys have none, and this is cheaper
            if timers and skey.split(KEY_SEPARATOR, 1)[0] in detectors:
                count += len(timers)
        return count

    # -- input sources -----------------------------------------------------------------------

    def expect_sources(self, sources: Iterable[str]) -> None:
        """Hold the watermark until each of `sources` has reported progress (replay of a dump
        whose partitions it knows in advance)."""
        for source in sources:
            self.sources.setdefault(source, None)

    def forget_sources(self, keep: Callable[[str], bool]) -> None:
        """Drop sources no longer read (an input topic removed from the settings), so they do
        not hold the watermark for ever."""
        gone = [source for source in self.sources if not keep(source)]
        for source in gone:
            del self.sources[source]
        if gone:
            self._store_sources()

    def advance_sources(self, progress: Mapping[str, int]) -> list[Finding]:
        """Record how far input sources have read in event time; the watermark follows the
        slowest source, minus the allowed lateness.

        Event time is then no longer the newest event seen anywhere: a backlog that waits on a
        stalled partition is not late when it is read, and no single producer's clock moves
        everyone's time. A source's progress never goes back (a re-read replays old events).
        """
        sources = self.sources
        changed = False
        for source, time in progress.items():
            known = sources.get(source)
            if known is None or time > known:
                sources[source] = time
                changed = True
        if changed:
            self._store_sources()
            slowest = min(sources.values(), key=_unknown_first)
            if slowest is not None:
                self._release(slowest - self.allowed_lateness_ms)
        return self._take_emitted()

    def _store_sources(self) -> None:
        self.store[self.sources_key] = {s: t for s, t in self.sources.items() if t is not None}

    def restore(self) -> None:
        """Rebuild the agenda from stored records, after recovery or a rebalance."""
        self.sources.update(self.store.get(self.sources_key) or {})
        self.agenda.clear()
        arrivals: list[tuple[int, str]] = []
        keys = dict.fromkeys(self.detectors, 0)
        for skey, record in self.store.items():
            name = skey.split(KEY_SEPARATOR, 1)[0]
            if name not in keys:
                continue
            keys[name] += 1
            arrivals.extend((item[_TIME], skey) for item in record["p"])
            for at in record["t"].values():
                self.agenda.wake(at, _DEADLINE, skey)
            for open_outcome in record.get("o", ()):  # records stored before outcomes have none
                self.agenda.wake(open_outcome[_O_DEADLINE], _DEADLINE, skey)
            if "j" in record:  # nor an open journey
                self.agenda.wake(record["j"][_J_DEADLINE], _DEADLINE, skey)
            self.agenda.wake(record["x"], _EXPIRY, skey)
        arrivals.sort()
        for time, skey in arrivals:
            self.agenda.arrive(time, skey, self.detectors[skey.split(KEY_SEPARATOR, 1)[0]])
        self._keys = keys
        for name, count in keys.items():
            self.observer.on_state_size(name, count)

    def take_findings(self) -> list[Finding]:
        """The findings emitted since the last call and not yet returned: those of late events
        `take` applied at once; every other call that can emit returns its own."""
        return self._take_emitted()

    def take_outcomes(self) -> list[Outcome]:
        """The outcomes decided since the last call, in the order they were decided; the engine
        returns findings from each call and keeps outcomes here, so a runtime that does not
        write them (the webhook, the alert engine) never sees them among findings."""
        outcomes = self._outcomes
        if not outcomes:
            return []
        taken = outcomes[:]
        outcomes.clear()
        return taken

    def settled(self) -> int:
        """The event time before which every finding has been emitted, late events aside.

        The watermark, unless an event before it still waits in the agenda (in replay, behind
        a later arrival; in the worker, between a batch's `take` and its `advance_sources`): its
        key, and so its findings, wait too. Detectors over findings follow this, not the
        watermark. It reads the whole arrival queue, so it is for a batch or a timer, not for
        every event.
        """
        first = self.agenda.first_arrival()
        return self.watermark if first is None else min(self.watermark, first)

    def queued(self) -> int:
        """Arrivals waiting in the agenda's FIFO: what a call of `settled` reads."""
        return len(self.agenda.arrivals)

    def state_keys(self) -> dict[str, int]:
        """Keys held per detector: the bound that idle expiry keeps."""
        return dict(self._keys)

    def write_changes(self) -> None:
        """Nothing waits: every change was written to the store as it was made (the compiled
        core over a store, detectors/stored_core.py, writes its changes here, once per batch)."""

    def keep_waiting(self, until_ms: int) -> int:
        """Nothing to add: every record holds all its waiting events (the compiled core over a
        store, detectors/stored_core.py, may leave them out until told to keep them)."""
        return 0

    def drop(self, skey: str) -> None:
        """Forget a detector key's state, as if it had expired: for a runtime that cannot keep
        it (the worker's changelog refused it as too large). The key's next event starts it
        afresh; its waiting events and deadlines go with it."""
        name = skey.split(KEY_SEPARATOR, 1)[0]
        if name in self.detectors and self.store.pop(skey, None) is not None:
            self._count_key(name, -1)

    # -- time ----------------------------------------------------------------------------

    def _release(self, watermark: int) -> None:
        if watermark <= self.watermark:
            return
        self.watermark = watermark
        agenda = self.agenda
        if agenda.anything_due(watermark):
            store = self.store
            advance_key = self._advance_key
            for _, skey, detector in agenda.due_arrivals(watermark):
                record = store.get(skey)
                if record is not None and record["p"]:
                    advance_key(detector, skey, record, watermark)
            detectors = self.detectors
            for at, kind, skey in agenda.due_wakeups(watermark):
                record = store.get(skey)
                if record is None:
                    continue
                detector = detectors[skey.split(KEY_SEPARATOR, 1)[0]]
                self._advance_key(detector, skey, record, watermark)
                if kind == _EXPIRY:
                    self._expire_or_postpone(detector, skey, record, at)
        if self._keys_changed:
            keys = self._keys
            for name in self._keys_changed:
                self.observer.on_state_size(name, keys[name])
            self._keys_changed.clear()
        if self._tell_watermark:
            self.observer.on_watermark(watermark)

    def _advance_key(self, detector: Detector, skey: str, record: dict, limit: int) -> None:
        """Apply a key's pending events and deadlines before `limit`, in event-time order."""
        pending = record["p"]
        timers = record["t"]
        apply_event = self._apply_event
        while True:
            if timers or "o" in record or "j" in record:
                if not self._step(detector, skey, record, limit):
                    break
            elif pending and pending[0][_TIME] < limit:  # only events: the usual case
                apply_event(detector, skey, record, _released(pending.pop(0)))
            else:
                break
        if self._write_back:
            self.store[skey] = record

    def _step(self, detector: Detector, skey: str, record: dict, limit: int) -> bool:
        """Take the key's earliest due item before `limit`, its deadlines, open outcomes and
        journey among its events; False when nothing is due."""
        pending = record["p"]
        event_at = pending[0][_TIME] if pending else limit
        journey = record.get("j")
        if journey is not None:  # after an event at its deadline's time, as outcomes
            journey_at = journey[_J_DEADLINE]
            if journey_at < limit and journey_at < event_at:
                del record["j"]
                self._decide_journey(detector, journey, ABANDONED, journey_at)
                return True
        outcomes = record.get("o")
        if outcomes:  # a deadline comes after an event at its exact time, so that event counts
            due = min(outcomes, key=_deadline)
            due_at = due[_O_DEADLINE]
            if due_at < limit and due_at < event_at:
                outcomes.remove(due)
                if not outcomes:
                    del record["o"]
                self._decide(detector, due, ABANDONED, due_at)
                return True
        timers = record["t"]
        if timers:
            timer_at = min(timers.values())  # no key function: most visits find nothing due
            if timer_at < limit and timer_at < event_at:
                tag = _first_at(timers, timer_at)
                del timers[tag]
                self._react(detector, skey, record, timer_at, None, tag)
                return True
        if event_at >= limit:
            return False
        self._apply_event(detector, skey, record, _released(pending.pop(0)))
        return True

    def _expire_or_postpone(self, detector: Detector, skey: str, record: dict, at: int) -> None:
        """Drop an idle key, unless an event or a deadline still lies ahead of it."""
        expiry = record["x"]
        if record["t"]:
            expiry = max(expiry, max(record["t"].values()) + 1)
        wake = expiry  # pending events keep the record, not the state: `x` ignores them
        if record["p"]:
            wake = max(wake, record["p"][-1][_TIME] + self._lifetime[detector.name])
        if record.get("o"):  # so do open outcomes (decided just before): a key reused later
            wake = max(wake, max(map(_deadline, record["o"])))  # still starts afresh
        if "j" in record:  # and the open journey
            wake = max(wake, record["j"][_J_DEADLINE])
        if wake > at:
            record["x"] = expiry
            self.agenda.wake(wake, _EXPIRY, skey)
            return
        del self.store[skey]
        self._count_key(detector.name, -1)

    # -- one key -------------------------------------------------------------------------

    def _apply_event(self, detector: Detector, skey: str, record: dict, event: Event) -> None:
        event_id, _, time, _, _, _ = event  # unpacking is cheaper than two attribute reads
        expires = record["x"]
        if time > expires and not record["t"]:
            # Idle past its lifetime: start afresh, as if the key had been dropped before this
            # event arrived; whether it was depends on arrival order, which must not matter.
            record["s"] = {}
            record["d"] = {}
        seen = record["d"]
        if event_id in seen:
            self.observer.on_duplicate(detector.name, event)
            return
        if len(seen) >= _DEDUP_TRIM_AT:  # drop at most one: the map shrinks as fast as it grows
            oldest = next(iter(seen))  # ids are kept in the order the key applied them
            if seen[oldest] < time - self.dedup_horizon_ms:
                del seen[oldest]
        seen[event_id] = time
        name = detector.name
        expiry = time + self._lifetime[name]
        if expiry > expires:
            record["x"] = expiry
        # The reaction, as `_react` makes it, without a call: this runs once per event and key.
        window = self._windows[name]
        reaction = self._reaction
        reaction.detector = detector
        reaction.skey = skey
        reaction.record = record
        reaction.now = time
        reaction.window = window
        try:
            detector.on_event(record["s"], event, reaction)
        except Exception as error:  # a detector's bug must not stop the stream
            self.observer.on_detector_error(name, event, error)
        if window:  # after the reaction: the submit that ends a burst may complete it
            if "j" not in record:
                self._start_journey(detector, skey, record, event, window)
            if "o" in record or "j" in record:
                self._complete(detector, record, event)

    def _start_journey(
        self, detector: Detector, skey: str, record: dict, event: Event, window: int
    ) -> None:
        """Open the key's journey when `event` starts one (none is open)."""
        try:
            segment = detector.starts_journey(record["s"], event)
        except Exception as error:  # a detector's bug must not stop the stream
            self.observer.on_detector_error(detector.name, event, error)
            return
        if segment is None:
            return
        deadline = event.time + window
        record["j"] = [event.time, deadline, segment]
        self.agenda.wake(deadline, _DEADLINE, skey)
        self.observer.on_journey_opened(detector.name, segment, False)

    def _complete(self, detector: Detector, record: dict, event: Event) -> None:
        """Decide, as completed, the key's open outcomes and journey that `event` completes."""
        try:
            completes = detector.completes_journey(record["s"], event)
        except Exception as error:  # a detector's bug must not stop the stream
            self.observer.on_detector_error(detector.name, event, error)
            return
        if not completes:
            return
        time = event.time
        outcomes = record.get("o")
        if outcomes:
            still_open = []
            for open_outcome in outcomes:
                # A late event (behind the watermark) may be older than a finding, or than a
                # deadline already passed: only what is open at its time completes.
                if open_outcome[_O_FOUND] <= time <= open_outcome[_O_DEADLINE]:
                    self._decide(detector, open_outcome, COMPLETED, time)
                else:
                    still_open.append(open_outcome)
            if still_open:
                record["o"] = still_open
            else:
                del record["o"]
        journey = record.get("j")
        if journey is not None and journey[_J_START] <= time <= journey[_J_DEADLINE]:
            del record["j"]
            self._decide_journey(detector, journey, COMPLETED, time)

    def _decide(self, detector: Detector, open_outcome: list, outcome: str, time: int) -> None:
        decided = Outcome(
            finding_id=open_outcome[_O_ID],
            detector=detector.name,
            kind=open_outcome[_O_KIND],
            outcome=outcome,
            time_ms=time,
            # Outcomes opened before they carried a segment have none.
            segment=open_outcome[_O_SEGMENT] if len(open_outcome) > _O_SEGMENT else "",
        )
        self._outcomes.append(decided)
        self.observer.on_outcome(decided)

    def _decide_journey(self, detector: Detector, journey: list, outcome: str, time: int) -> None:
        """Count a journey no finding interrupted; an interrupted one its outcomes counted."""
        segment = journey[_J_SEGMENT]
        if segment is not None:
            self.observer.on_journey(JourneyOutcome(detector.name, segment, outcome, time))

    def _react(
        self,
        detector: Detector,
        skey: str,
        record: dict,
        now: int,
        event: Event | None,
        tag: str | None,
    ) -> None:
        """Call the detector on an event, or at a deadline when `event` is None."""
        reaction = self._reaction
        reaction.detector = detector
        reaction.skey = skey
        reaction.record = record
        reaction.now = now
        reaction.window = self._windows[detector.name]
        try:
            if event is not None:
                detector.on_event(record["s"], event, reaction)
            elif tag is not None:
                detector.on_deadline(record["s"], tag, reaction)
        except Exception as error:  # a detector's bug must not stop the stream
            self.observer.on_detector_error(detector.name, event, error)

    def _new_record(self, detector: Detector, skey: str, event_time: int) -> dict:
        # s: detector state, p: pending events, t: deadlines, d: seen ids, x: expiry time
        name = detector.name
        expiry = event_time + self._lifetime[name]
        self.agenda.wake(expiry, _EXPIRY, skey)
        self._keys[name] += 1  # as `_count_key` does, without a call: once per new key
        self._keys_changed.add(name)
        return {"s": {}, "p": [], "t": {}, "d": {}, "x": expiry}

    def _count_key(self, name: str, delta: int) -> None:
        """Count a key; the observer hears the totals once per watermark move, not per key."""
        self._keys[name] += delta
        self._keys_changed.add(name)

    def _take_emitted(self) -> list[Finding]:
        emitted = self._emitted
        if not emitted:
            return []
        taken = emitted[:]
        emitted.clear()
        return taken


def _deadline(open_outcome: list) -> int:
    return open_outcome[_O_DEADLINE]


def _first_at(timers: dict[str, int], at: int) -> str:
    """The first tag, in the order they were set, of the deadlines at `at`."""
    return next(tag for tag, tag_at in timers.items() if tag_at == at)


def _unknown_first(time: int | None) -> int:
    return NO_WATERMARK if time is None else time


def _same(event: Event) -> Event:
    """A pending item kept as the Event itself (a plain dict store)."""
    return event


def _released(item: Event | list) -> Event:
    """The Event of a pending item: as it is, or rebuilt from the plain data a written-back
    store (or a record restored from one) holds."""
    return item if type(item) is Event else event_from_fields(item)


def _insert_pending(pending: list, item: Event | list) -> None:
    """Keep a key's pending events sorted by (time, event_id); arrival is nearly always in order."""
    pending.append(item)
    pending.sort(key=_order)


def _order(item: Sequence) -> tuple[int, str]:
    return item[_TIME], item[_ID]
