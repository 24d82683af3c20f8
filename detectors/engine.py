"""The detection core: keyed state, event time, the watermark, deadlines, de-duplication, expiry.

Events wait in their key's record until the watermark passes them and are then released to the
detectors in event-time order (ties by `event_id`), deadlines interleaved. So any arrival order
within the allowed lateness gives the same findings, in replay and in the worker alike. Every
record is plain data kept in a mutable mapping: a dict in replay, a Faust table in the worker.
The heap that orders the agenda is derived from the records and rebuilt by `restore`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, MutableMapping, Sequence

from detectors.api import Detector
from detectors.events import Event
from detectors.findings import Finding
from detectors.observer import EngineObserver

DEFAULT_ALLOWED_LATENESS_MS = 30_000
DEFAULT_DEDUP_HORIZON_MS = 15 * 60_000

_EVENT, _DEADLINE, _EXPIRY = 0, 1, 2
_NO_WATERMARK = -(2**62)
KEY_SEPARATOR = "/"


def store_key(detector: str, key: str) -> str:
    """The state key of one detector's key; detector names never contain the separator."""
    return detector + KEY_SEPARATOR + key


class _Reaction:
    """The `Context` handed to a detector: bound to one record for the length of one reaction."""

    __slots__ = ("engine", "detector", "record", "skey", "now")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
        self.engine._emitted.append(finding)
        self.engine.observer.on_finding(finding)

    def schedule(self, tag: str, at_ms: int) -> None:
        self.record["t"][tag] = at_ms
        heapq.heappush(self.engine._agenda, (at_ms, _DEADLINE, tag, self.skey))

    def cancel(self, tag: str) -> None:
        self.record["t"].pop(tag, None)

    def observe(self, measurement: str, seconds: float, segment: str = "") -> None:
        self.engine.observer.on_measurement(self.detector.name, measurement, seconds, segment)


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
    ) -> None:
        self.detectors = {d.name: d for d in detectors}
        self.allowed_lateness_ms = allowed_lateness_ms
        self.dedup_horizon_ms = dedup_horizon_ms
        self.store: MutableMapping[str, dict] = {} if store is None else store
        self.observer = observer or EngineObserver()
        self.max_event_time = _NO_WATERMARK
        self.watermark = _NO_WATERMARK
        self._routes: dict[str, list[Detector]] = {}
        for detector in detectors:
            for event_type in detector.consumes:
                self._routes.setdefault(event_type, []).append(detector)
        self._lifetime = {d.name: max(d.state_ttl_ms(), dedup_horizon_ms) for d in detectors}
        self._keys = dict.fromkeys(self.detectors, 0)
        self._agenda: list[tuple[int, int, str, str]] = []
        self._emitted: list[Finding] = []
        self._reaction = _Reaction(self)

    # -- input ---------------------------------------------------------------------------

    def routes(self, event: Event) -> list[tuple[Detector, str]]:
        """The (detector, key) pairs an event goes to; the worker partitions by these."""
        routed = []
        for detector in self._routes.get(event.type, ()):
            key = detector.key(event)
            if key is not None:
                routed.append((detector, key))
        return routed

    def process(self, event: Event) -> list[Finding]:
        """Take one event; return the findings that became due."""
        self.observer.on_event(event)
        return self.process_routed(event, self.routes(event))

    def process_routed(self, event: Event, routes: Iterable[tuple[Detector, str]]) -> list[Finding]:
        """Take an event already routed (the worker routes before repartitioning)."""
        late = event.time < self.watermark
        if late:
            self.observer.on_late(event, self.watermark)
        for detector, key in routes:
            skey = store_key(detector.name, key)
            record = self._record(detector, skey, event.time)
            if late:
                self._apply_event(detector, skey, record, event)
            else:
                _insert_pending(record["p"], _pending_item(event))
                heapq.heappush(self._agenda, (event.time, _EVENT, event.event_id, skey))
            self.store[skey] = record
        if event.time > self.max_event_time:
            self.max_event_time = event.time
            self._release(event.time - self.allowed_lateness_ms)
        elif late:
            self._release(self.watermark)
        return self._take_emitted()

    def advance(self, watermark: int) -> list[Finding]:
        """Move the watermark forward without an event: the worker does so when input is idle."""
        self._release(watermark)
        return self._take_emitted()

    def restore(self) -> None:
        """Rebuild the agenda from stored records, after recovery or a rebalance."""
        agenda = []
        keys = dict.fromkeys(self.detectors, 0)
        for skey, record in self.store.items():
            name = skey.split(KEY_SEPARATOR, 1)[0]
            if name not in keys:
                continue
            keys[name] += 1
            agenda.extend((item[0], _EVENT, item[1], skey) for item in record["p"])
            agenda.extend((at, _DEADLINE, tag, skey) for tag, at in record["t"].items())
            agenda.append((record["x"], _EXPIRY, "", skey))
        heapq.heapify(agenda)
        self._agenda = agenda
        self._keys = keys
        for name, count in keys.items():
            self.observer.on_state_size(name, count)

    # -- the agenda ----------------------------------------------------------------------

    def _release(self, watermark: int) -> None:
        if watermark <= self.watermark:
            return
        self.watermark = watermark
        agenda = self._agenda
        store = self.store
        while agenda and agenda[0][0] < watermark:
            at, kind, tag, skey = heapq.heappop(agenda)
            record = store.get(skey)
            if record is None:
                continue
            detector = self.detectors[skey.split(KEY_SEPARATOR, 1)[0]]
            if kind == _EVENT:
                pending = record["p"]
                if not pending or pending[0][0] != at or pending[0][1] != tag:
                    continue  # an entry restored twice; its event was already released
                self._apply_event(detector, skey, record, _event_of(pending.pop(0)))
                store[skey] = record
            elif kind == _DEADLINE:
                if record["t"].get(tag) != at:
                    continue  # cancelled or moved
                del record["t"][tag]
                reaction = self._bind(detector, skey, record, at)
                detector.on_deadline(record["s"], tag, reaction)
                store[skey] = record
            else:
                self._expire_or_postpone(detector, skey, record, at)
        self.observer.on_watermark(watermark)

    def _expire_or_postpone(self, detector: Detector, skey: str, record: dict, at: int) -> None:
        """Drop an idle key, unless an event or a deadline still lies ahead of it."""
        expiry = record["x"]
        if record["p"]:
            expiry = max(expiry, record["p"][-1][0] + self._lifetime[detector.name])
        if record["t"]:
            expiry = max(expiry, max(record["t"].values()) + 1)
        if expiry > at:
            record["x"] = expiry
            heapq.heappush(self._agenda, (expiry, _EXPIRY, "", skey))
            return
        del self.store[skey]
        self._count_key(detector.name, -1)

    def _apply_event(self, detector: Detector, skey: str, record: dict, event: Event) -> None:
        seen = record["d"]
        if event.event_id in seen:
            self.observer.on_duplicate(detector.name, event)
            return
        seen[event.event_id] = event.time
        horizon = event.time - self.dedup_horizon_ms
        while seen:
            oldest = next(iter(seen))
            if seen[oldest] >= horizon:
                break
            del seen[oldest]
        record["x"] = max(record["x"], event.time + self._lifetime[detector.name])
        detector.on_event(record["s"], event, self._bind(detector, skey, record, event.time))

    def _record(self, detector: Detector, skey: str, event_time: int) -> dict:
        record = self.store.get(skey)
        if record is None:
            # s: detector state, p: pending events, t: deadlines, d: seen ids, x: expiry time
            expiry = event_time + self._lifetime[detector.name]
            record = {"s": {}, "p": [], "t": {}, "d": {}, "x": expiry}
            heapq.heappush(self._agenda, (expiry, _EXPIRY, "", skey))
            self._count_key(detector.name, 1)
        return record

    def _bind(self, detector: Detector, skey: str, record: dict, now: int) -> _Reaction:
        reaction = self._reaction
        reaction.detector = detector
        reaction.skey = skey
        reaction.record = record
        reaction.now = now
        return reaction

    def _count_key(self, name: str, delta: int) -> None:
        self._keys[name] += delta
        self.observer.on_state_size(name, self._keys[name])

    def _take_emitted(self) -> list[Finding]:
        if not self._emitted:
            return []
        emitted, self._emitted = self._emitted, []
        return emitted

    def state_keys(self) -> dict[str, int]:
        """Keys held per detector: the bound that idle expiry keeps."""
        return dict(self._keys)


def _insert_pending(pending: list, item: list) -> None:
    """Keep a key's pending events sorted by (time, event_id); arrival is nearly always in order."""
    if not pending or (pending[-1][0], pending[-1][1]) <= (item[0], item[1]):
        pending.append(item)
        return
    pending.append(item)
    pending.sort(key=lambda entry: (entry[0], entry[1]))


def _pending_item(event: Event) -> list:
    """An event as stored while it waits: time and id first, the order it is released in."""
    return [event.time, event.event_id, event.type, event.user_id, event.session_id, event.attrs]


def _event_of(item: list) -> Event:
    time, event_id, event_type, user_id, session_id, attrs = item
    return Event(event_id, event_type, time, user_id, session_id, attrs)
