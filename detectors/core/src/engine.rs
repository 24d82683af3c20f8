//! Engine.py's `Engine` compiled, for a run whose state never leaves the process.

use crate::arrivals::Arrivals;
use crate::calls::{call, tuple_class};
use crate::hashed::{EventId, HashedText, Skey};
use crate::hooks::{tell, Hooks};
use crate::plain::{plain_record, record_from_plain};
use crate::reaction::Reaction;
use crate::record::{made, HashedSet, Journey, OpenOutcome, Pending, Record, SeenIds, Waiting};
use crate::records::{Records, Slot};
use crate::routed::{key_text, RoutedItems};
use crate::routed_message::{event_fields, read_message, EventMaker};
use crate::serialized::{event_bytes, write_record};
use ahash::{HashMap, HashMapExt, HashSet, HashSetExt, RandomState};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple, PyType};
use smallvec::SmallVec;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;

const DEADLINE: u8 = 1;
const EXPIRY: u8 = 2;
const NO_WATERMARK: i64 = -(1i64 << 62);
pub(crate) const SEPARATOR: &str = "/";

struct DetectorRef {
    name: Py<PyString>,
    /// What its items are routed by: its key space, or its name without one (routed.rs).
    routed_by: String,
    key: PyObject,
    on_event: PyObject,
    on_deadline: PyObject,
    lifetime: i64,
    window: i64,
    kinds: Option<PyObject>,
    interrupts: PyObject,
    segment_of: PyObject,
    starts: PyObject,
    completes: PyObject,
}

/// An event's routed item being made: what it is routed by, its key, the detectors it names.
type ItemGroup<'a> = (&'a str, &'a str, SmallVec<[&'a str; 2]>);

/// The classes and constants of the Python side that the core builds values of.
struct Kinds {
    outcome: PyObject,
    journey_outcome: PyObject,
    abandoned: PyObject,
    completed: PyObject,
}

/// Engine.py's `Engine`, for a run whose state never leaves the process.
#[pyclass(unsendable)]
pub(crate) struct CompiledEngine {
    detectors: Vec<DetectorRef>,
    /// Each detector's index by its name.
    indexes: HashMap<String, usize>,
    routes: HashMap<String, Rc<[usize]>>,
    records: Records,
    key_hashing: RandomState,
    scratch: String,
    arrivals: Arrivals,
    early: BinaryHeap<Reverse<(i64, Skey)>>,
    wakeups: BinaryHeap<Reverse<(i64, u8, Skey)>>,
    born: u64,
    lateness: i64,
    dedup_horizon: i64,
    #[pyo3(get)]
    max_event_time: i64,
    #[pyo3(get)]
    watermark: i64,
    sources: HashMap<String, Option<i64>>,
    keys: Vec<i64>,
    keys_changed: HashSet<usize>,
    hooks: Hooks,
    kinds: Kinds,
    reaction: Py<Reaction>,
    emitted: Vec<PyObject>,
    outcomes: Vec<PyObject>,
    /// The keys whose records changed since `take_changed`, when the engine keeps track.
    changes: Option<Changes>,
    /// The records given out hold the waiting events up to this time (all of them by default).
    /// A runtime that reads its waiting events again from its input after a restart (the
    /// worker) has them left out (`waiting_in_records=False`) until it can no longer hold
    /// that input back (`keep_waiting`); events taken up from a store stay in.
    kept_until: i64,
    /// How the routed items `take_message` queued are made Events (set by its first call).
    event_maker: Option<EventMaker>,
}

/// Keys in the order their records first changed, each once: a flag in the record would make
/// every record a cache line longer for runs that never ask.
#[derive(Default)]
struct Changes {
    order: Vec<Skey>,
    known: HashedSet,
}

impl Changes {
    fn note(&mut self, skey: &Skey) {
        if self.known.insert(skey.clone()) {
            self.order.push(skey.clone());
        }
    }
}

/// A route's record: held already, or to be made for the key.
enum Route {
    Held(Slot),
    New(Skey),
}

fn is_exception(py: Python<'_>, error: &PyErr) -> bool {
    error.is_instance_of::<PyException>(py)
}

#[pymethods]
impl CompiledEngine {
    #[new]
    #[pyo3(signature = (
        detectors, hooks, classes, *, allowed_lateness_ms, dedup_horizon_ms, track_changes=false,
        waiting_in_records=true
    ))]
    fn new(
        py: Python<'_>,
        detectors: Vec<PyObject>,
        hooks: HashMap<String, PyObject>,
        classes: (PyObject, PyObject, PyObject, PyObject, PyObject),
        allowed_lateness_ms: i64,
        dedup_horizon_ms: i64,
        track_changes: bool,
        waiting_in_records: bool,
    ) -> PyResult<Self> {
        let mut refs = Vec::new();
        let mut routes: HashMap<String, Rc<[usize]>> = HashMap::new();
        let mut consumers: Vec<(String, Vec<usize>)> = Vec::new();
        for (index, detector) in detectors.iter().enumerate() {
            let d = detector.bind(py);
            for event_type in d.getattr("consumes")?.iter()? {
                let event_type: String = event_type?.extract()?;
                match consumers.iter_mut().find(|(known, _)| *known == event_type) {
                    Some((_, indexes)) => indexes.push(index),
                    None => consumers.push((event_type, vec![index])),
                }
            }
            let ttl: i64 = d.call_method0("state_ttl_ms")?.extract()?;
            let journey = d.getattr("journey")?;
            let name = d.getattr("name")?.downcast_into::<PyString>()?;
            let key_space: String = d.getattr("key_space")?.extract()?;
            refs.push(DetectorRef {
                routed_by: if key_space.is_empty() {
                    name.to_str()?.to_owned()
                } else {
                    key_space
                },
                name: name.unbind(),
                key: d.getattr("key")?.unbind(),
                on_event: d.getattr("on_event")?.unbind(),
                on_deadline: d.getattr("on_deadline")?.unbind(),
                lifetime: ttl.max(dedup_horizon_ms),
                window: d.call_method0("journey_window_ms")?.extract()?,
                kinds: if journey.is_none() {
                    None
                } else {
                    Some(journey.getattr("kinds")?.unbind())
                },
                interrupts: d.getattr("interrupts_journey")?.unbind(),
                segment_of: d.getattr("journey_segment")?.unbind(),
                starts: d.getattr("starts_journey")?.unbind(),
                completes: d.getattr("completes_journey")?.unbind(),
            });
        }
        for (event_type, indexes) in consumers {
            routes.insert(event_type, Rc::from(indexes));
        }
        let mut indexes = HashMap::new();
        for (index, detector) in refs.iter().enumerate() {
            indexes.insert(detector.name.bind(py).to_str()?.to_owned(), index);
        }
        let hook = |name: &str| hooks.get(name).map(|hook| hook.clone_ref(py));
        let hooks = Hooks {
            on_event: hook("on_event"),
            on_late: hook("on_late"),
            on_duplicate: hook("on_duplicate"),
            on_finding: hook("on_finding"),
            on_outcome: hook("on_outcome"),
            on_journey_opened: hook("on_journey_opened"),
            on_journey: hook("on_journey"),
            on_measurement: hook("on_measurement"),
            on_state_size: hook("on_state_size"),
            on_watermark: hook("on_watermark"),
            on_detector_error: hook("on_detector_error"),
        };
        let (finding, outcome, journey_outcome, abandoned, completed) = classes;
        let reaction = Py::new(
            py,
            Reaction {
                now: 0,
                detector: None,
                window: 0,
                kinds: None,
                interrupts: None,
                segment_of: None,
                finding,
                on_finding: hooks.on_finding.as_ref().map(|hook| hook.clone_ref(py)),
                on_journey_opened: hooks
                    .on_journey_opened
                    .as_ref()
                    .map(|hook| hook.clone_ref(py)),
                on_measurement: hooks.on_measurement.as_ref().map(|hook| hook.clone_ref(py)),
                emitted: Vec::new(),
                timers: Vec::new(),
                outcomes: Vec::new(),
                journey: None,
                wakes: Vec::new(),
            },
        )?;
        let count = refs.len();
        Ok(CompiledEngine {
            detectors: refs,
            indexes,
            routes,
            records: Records::default(),
            key_hashing: RandomState::new(),
            scratch: String::new(),
            arrivals: Arrivals::default(),
            early: BinaryHeap::new(),
            wakeups: BinaryHeap::new(),
            born: 0,
            lateness: allowed_lateness_ms,
            dedup_horizon: dedup_horizon_ms,
            max_event_time: NO_WATERMARK,
            watermark: NO_WATERMARK,
            sources: HashMap::new(),
            keys: vec![0; count],
            keys_changed: HashSet::new(),
            hooks,
            kinds: Kinds {
                outcome,
                journey_outcome,
                abandoned,
                completed,
            },
            reaction,
            emitted: Vec::new(),
            outcomes: Vec::new(),
            changes: track_changes.then(Changes::default),
            kept_until: if waiting_in_records {
                i64::MAX
            } else {
                i64::MIN
            },
            event_maker: None,
        })
    }

    /// Take one event; the findings that became due. The watermark follows the newest event.
    fn process(&mut self, py: Python<'_>, event: Bound<'_, PyTuple>) -> PyResult<PyObject> {
        tell(py, &self.hooks.on_event, (&event,))?;
        let time: i64 = event.get_item(2)?.extract()?;
        if let Some(detectors) = self.detectors_for(&event)? {
            let routes = self.routes_of(py, &event, &detectors)?;
            self.take_routed(py, &event, time, routes, false)?;
        }
        if time > self.max_event_time {
            self.max_event_time = time;
            self.release(py, time - self.lateness)?;
        }
        Ok(self.take_emitted(py))
    }

    /// Take one event read from `source`; the watermark follows the slowest source.
    fn process_from(
        &mut self,
        py: Python<'_>,
        source: String,
        event: Bound<'_, PyTuple>,
    ) -> PyResult<PyObject> {
        tell(py, &self.hooks.on_event, (&event,))?;
        let time: i64 = event.get_item(2)?.extract()?;
        if let Some(detectors) = self.detectors_for(&event)? {
            let routes = self.routes_of(py, &event, &detectors)?;
            self.take_routed(py, &event, time, routes, true)?;
        }
        let mut progress = HashMap::new();
        progress.insert(source, time);
        self.advance_sources(py, progress)
    }

    /// Stage 1's routed items of `event` among `partitions` (routed.rs): engine.py's
    /// `routes(event)` and `routed_items` in one call, the detectors asked for their keys here.
    /// A detector whose key raised is reported (`on_detector_error`) and left out; a key that
    /// is not text raises TypeError. Holds no state: the engine's records are not touched.
    fn routed_items<'py>(
        &self,
        py: Python<'py>,
        event: &Bound<'py, PyTuple>,
        partitions: u32,
        dumps: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut items = RoutedItems::new(event, partitions, dumps);
        let Some(detectors) = self.detectors_for(event)? else {
            return Ok(items.done());
        };
        let keys = self.keys_of(py, event, &detectors)?;
        // One item per (key space, key), naming its detectors, in the order they first route.
        let mut groups: SmallVec<[ItemGroup<'_>; 4]> = SmallVec::new();
        for (index, key) in &keys {
            let detector = &self.detectors[*index];
            let name = detector.name.bind(py).to_str()?;
            let key = key_text(name, key.bind(py))?;
            let routed_by = detector.routed_by.as_str();
            match groups
                .iter_mut()
                .find(|(by, known, _)| *by == routed_by && *known == key)
            {
                Some((_, _, names)) => names.push(name),
                None => groups.push((routed_by, key, SmallVec::from_elem(name, 1))),
            }
        }
        for (routed_by, key, names) in &groups {
            items.add(names, routed_by, key)?;
        }
        Ok(items.done())
    }

    /// engine.py's `take`: queue an event already routed, as (detector, key) pairs, without
    /// moving event time (the caller moves it by the sources' progress, `advance_sources`).
    fn take(
        &mut self,
        py: Python<'_>,
        event: Bound<'_, PyTuple>,
        routes: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let time: i64 = event.get_item(2)?.extract()?;
        let mut taken = Vec::new();
        for route in routes.iter()? {
            let (detector, key): (Bound<'_, PyAny>, Bound<'_, PyString>) = route?.extract()?;
            let name = detector.getattr("name")?;
            let name = name.downcast::<PyString>()?.to_str()?;
            let Some(&index) = self.indexes.get(name) else {
                return Err(pyo3::exceptions::PyKeyError::new_err(format!(
                    "detector {name:?} is not this engine's"
                )));
            };
            taken.push((index, self.route_to(py, index, key.to_str()?)?));
        }
        self.take_routed(py, &event, time, taken, true)
    }

    /// engine.py's `take_message`: the items of a routed message as stage 1 writes it (the
    /// worker's stage 2), each taken as `take(event, routes)` with a route for each detector it
    /// names, its event fields kept as bytes and made an Event (of `event_class`, read by
    /// `loads`) only when a detector or a record needs it (routed_message.rs); a detector this
    /// engine does not run is skipped. Returns the latest item time (None without items) and
    /// the message's progress, for `advance_sources`. A message or item not as stage 1 writes
    /// them raises ValueError before any item is taken.
    #[pyo3(signature = (raw, *, event_class, loads))]
    fn take_message<'py>(
        &mut self,
        py: Python<'py>,
        raw: &[u8],
        event_class: Bound<'py, PyType>,
        loads: PyObject,
    ) -> PyResult<(Option<i64>, Bound<'py, PyDict>)> {
        if self.event_maker.is_none() {
            let class = tuple_class(event_class)?;
            self.event_maker = Some(EventMaker { class, loads });
        }
        let (items, progress) = read_message(raw)?;
        let mut latest = None;
        for item in items {
            latest = latest.max(Some(item.time));
            let mut routes = Vec::with_capacity(item.detectors.0.len());
            for name in &item.detectors.0 {
                if let Some(&index) = self.indexes.get(name.as_ref()) {
                    routes.push((index, self.route_to(py, index, &item.key)?));
                }
            }
            if routes.is_empty() {
                continue;
            }
            let waiting = Waiting::routed(event_fields(py, item.event)?);
            self.take_waiting(py, waiting, &item.id, item.time, routes, true)?;
        }
        let sources = PyDict::new_bound(py);
        for (source, time) in progress {
            sources.set_item(source, time)?;
        }
        Ok((latest, sources))
    }

    /// Keep the waiting events up to `until_ms` in the records given out from the next
    /// `take_changed` on (those taken later too), where they were left out: for a runtime that
    /// can no longer hold back the input it would read them again from (the worker, whose
    /// commit a message held too long would hold back). Returns how many events that adds.
    fn keep_waiting(&mut self, py: Python<'_>, until_ms: i64) -> PyResult<usize> {
        let since = self.kept_until;
        if until_ms <= since {
            return Ok(0);
        }
        let newly_kept = |time: i64| since < time && time <= until_ms;
        let due: Vec<(Slot, usize)> = self
            .records
            .iter()
            .map(|(slot, record)| {
                let count = record.pending.iter().filter(|w| newly_kept(w.time)).count();
                (slot, count)
            })
            .filter(|(_, count)| *count > 0)
            .collect();
        let mut kept = 0;
        for (slot, count) in due {
            self.mark_changed(slot);
            kept += count;
            let maker = self.event_maker.as_ref();
            let record = self.records.held(slot);
            for waiting in record.pending.iter_mut().filter(|w| newly_kept(w.time)) {
                waiting.event = Waiting::event(waiting.event.share(py).into_event(py, maker)?);
            }
        }
        self.kept_until = until_ms; // every event it keeps is made: records may write them
        Ok(kept)
    }

    /// engine.py's `drop`: forget a detector key's record as if it had expired, its waiting
    /// events and deadlines with it (the worker's changelog refused it as too large).
    fn drop(&mut self, skey: &str) {
        let Some(slot) = self.records.find(&HashedText::new(&self.key_hashing, skey)) else {
            return;
        };
        self.forget(slot);
    }

    /// The event time each input source has reached, of those heard from (engine.py stores
    /// this under its sources key).
    fn sources(&self) -> HashMap<String, i64> {
        self.sources
            .iter()
            .filter_map(|(source, time)| time.map(|time| (source.clone(), time)))
            .collect()
    }

    /// engine.py's `forget_sources`: drop the sources `keep` refuses; whether any went.
    fn forget_sources(&mut self, keep: &Bound<'_, PyAny>) -> PyResult<bool> {
        let mut gone = Vec::new();
        for source in self.sources.keys() {
            if !keep.call1((source,))?.is_truthy()? {
                gone.push(source.clone());
            }
        }
        for source in &gone {
            self.sources.remove(source);
        }
        Ok(!gone.is_empty())
    }

    fn expect_sources(&mut self, sources: &Bound<'_, PyAny>) -> PyResult<()> {
        for source in sources.iter()? {
            self.sources.entry(source?.extract()?).or_insert(None);
        }
        Ok(())
    }

    fn advance_sources(
        &mut self,
        py: Python<'_>,
        progress: HashMap<String, i64>,
    ) -> PyResult<PyObject> {
        let mut changed = false;
        for (source, time) in progress {
            let known = self.sources.get(&source).copied().flatten();
            if known.is_none() || time > known.unwrap() {
                self.sources.insert(source, Some(time));
                changed = true;
            }
        }
        if changed {
            let slowest = self
                .sources
                .values()
                .copied()
                .min_by_key(|time| time.unwrap_or(NO_WATERMARK));
            if let Some(Some(slowest)) = slowest {
                self.release(py, slowest - self.lateness)?;
            }
        }
        Ok(self.take_emitted(py))
    }

    fn advance(&mut self, py: Python<'_>, watermark: i64) -> PyResult<PyObject> {
        self.release(py, watermark)?;
        Ok(self.take_emitted(py))
    }

    /// The end of a finite input: every key's waiting events, in the order keys were made.
    fn finish(&mut self, py: Python<'_>) -> PyResult<PyObject> {
        let mut waiting: Vec<(u64, Slot)> = self
            .records
            .iter()
            .filter(|(_, record)| !record.pending.is_empty())
            .map(|(slot, record)| (record.born, slot))
            .collect();
        waiting.sort_unstable();
        for (_, slot) in waiting {
            let limit = match self.records.get(slot) {
                Some(record) if !record.pending.is_empty() => {
                    record.pending.last().expect("not empty").time + 1
                }
                _ => continue,
            };
            self.advance_key(py, slot, limit)?;
        }
        Ok(self.take_emitted(py))
    }

    fn deadlines_ahead(&self) -> usize {
        self.records
            .iter()
            .map(|(_, record)| record.timers.len())
            .sum()
    }

    fn take_findings(&mut self, py: Python<'_>) -> PyObject {
        self.take_emitted(py)
    }

    fn take_outcomes(&mut self, py: Python<'_>) -> PyObject {
        PyList::new_bound(py, self.outcomes.drain(..))
            .into_any()
            .unbind()
    }

    fn settled(&self) -> i64 {
        let fifo = self.arrivals.earliest();
        let early = self.early.peek().map(|Reverse((time, _))| *time);
        match fifo.into_iter().chain(early).min() {
            Some(first) => first.min(self.watermark),
            None => self.watermark,
        }
    }

    fn queued(&self) -> usize {
        self.arrivals.len()
    }

    /// The records changed since the last call, as (state key, engine.py's plain record, or
    /// None for a key forgotten), each key once, in the order they first changed: what a store
    /// that leaves the process writes after a batch. Only with `track_changes`.
    fn take_changed(&mut self, py: Python<'_>) -> PyResult<PyObject> {
        let changed = PyList::empty_bound(py);
        for skey in self.take_changes()?.order {
            match self.records.find(&skey) {
                Some(slot) => {
                    let plain = plain_record(py, self.records.held(slot), self.kept_until)?;
                    changed.append((skey.text(), plain))?;
                }
                None => changed.append((skey.text(), py.None()))?,
            }
        }
        Ok(changed.into_any().unbind())
    }

    /// `take_changed` with each record serialized as `dumps(plain record)` would give it
    /// (bytes; None for a key forgotten), written by the core (serialized.rs): `dumps` is
    /// called only for the values it keeps as Python objects of no fixed shape.
    fn take_changed_serialized(
        &mut self,
        py: Python<'_>,
        dumps: &Bound<'_, PyAny>,
    ) -> PyResult<PyObject> {
        let changed = PyList::empty_bound(py);
        let mut out = Vec::with_capacity(1024);
        for skey in self.take_changes()?.order {
            match self.records.find(&skey) {
                Some(slot) => {
                    out.clear();
                    let kept_until = self.kept_until;
                    write_record(py, self.records.held(slot), dumps, &mut out, kept_until)?;
                    changed.append((skey.text(), PyBytes::new_bound(py, &out)))?;
                }
                None => changed.append((skey.text(), py.None()))?,
            }
        }
        Ok(changed.into_any().unbind())
    }

    /// Take over the records a store outside the process kept, as (state key, engine.py's
    /// plain record with its waiting events already Events), and the input sources' progress,
    /// as engine.py's `restore` rebuilds its agenda from its store: each record's deadlines,
    /// open outcomes, journey and expiry wake its key, and its waiting events arrive in (time,
    /// key) order. Records of detectors this engine does not run are left out. Only into an
    /// engine that has held no record yet.
    fn load(
        &mut self,
        py: Python<'_>,
        records: &Bound<'_, PyAny>,
        sources: HashMap<String, i64>,
    ) -> PyResult<()> {
        if self.born != 0 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "records load only into an engine that has held none",
            ));
        }
        let mut arrivals: Vec<(i64, Skey, Slot)> = Vec::new();
        for item in records.iter()? {
            let (text, plain): (String, Bound<'_, PyDict>) = item?.extract()?;
            let name = text
                .split_once(SEPARATOR)
                .map_or(text.as_str(), |(name, _)| name);
            let Some(&index) = self.indexes.get(name) else {
                continue;
            };
            let skey = Skey::new(&self.key_hashing, &text);
            self.born += 1;
            let record = record_from_plain(
                py,
                &plain,
                skey.clone(),
                index,
                self.born,
                &self.key_hashing,
            )?;
            let wake = |at: i64, kind: u8| Reverse((at, kind, skey.clone()));
            let mut wakes: Vec<_> = record
                .timers
                .iter()
                .map(|(_, at)| wake(*at, DEADLINE))
                .collect();
            wakes.extend(
                record
                    .outcomes
                    .iter()
                    .map(|open| wake(open.deadline, DEADLINE)),
            );
            wakes.extend(
                record
                    .journey
                    .iter()
                    .map(|journey| wake(journey.deadline, DEADLINE)),
            );
            wakes.push(wake(record.expiry, EXPIRY));
            self.wakeups.extend(wakes);
            let times: Vec<i64> = record.pending.iter().map(|waiting| waiting.time).collect();
            if let Some(&last) = times.iter().max() {
                self.kept_until = self.kept_until.max(last); // nothing else holds them now
            }
            let slot = self.records.insert(record);
            arrivals.extend(times.into_iter().map(|time| (time, skey.clone(), slot)));
            self.keys[index] += 1;
        }
        arrivals.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        for (time, _, slot) in arrivals {
            let arrival = self.records.queue(slot);
            self.arrivals.push_back(time, arrival);
        }
        for (source, time) in sources {
            self.sources.insert(source, Some(time));
        }
        for (index, detector) in self.detectors.iter().enumerate() {
            tell(
                py,
                &self.hooks.on_state_size,
                (&detector.name, self.keys[index]),
            )?;
        }
        Ok(())
    }

    fn state_keys(&self, py: Python<'_>) -> PyResult<PyObject> {
        let counts = PyDict::new_bound(py);
        for (index, detector) in self.detectors.iter().enumerate() {
            counts.set_item(&detector.name, self.keys[index])?;
        }
        Ok(counts.into_any().unbind())
    }
}

impl CompiledEngine {
    /// The keys changed since the last call, the tracking started again.
    fn take_changes(&mut self) -> PyResult<Changes> {
        self.changes.replace(Changes::default()).ok_or_else(|| {
            pyo3::exceptions::PyRuntimeError::new_err("the engine was made without track_changes")
        })
    }

    /// Note that the slot's record changed, for `take_changed`.
    fn mark_changed(&mut self, slot: Slot) {
        if let Some(changes) = &mut self.changes {
            if let Some(record) = self.records.get(slot) {
                changes.note(&record.key);
            }
        }
    }

    fn detectors_for(&self, event: &Bound<'_, PyTuple>) -> PyResult<Option<Rc<[usize]>>> {
        let event_type = event.get_item(1)?;
        let event_type = event_type.downcast::<PyString>()?.to_str()?;
        Ok(self.routes.get(event_type).cloned())
    }

    /// The (detector, key) pairs of an event among `detectors`, keys as the detectors gave
    /// them; a detector whose key raised is reported and left out, as is a key of None.
    fn keys_of(
        &self,
        py: Python<'_>,
        event: &Bound<'_, PyTuple>,
        detectors: &[usize],
    ) -> PyResult<SmallVec<[(usize, PyObject); 4]>> {
        let mut keys = SmallVec::new();
        let event_object = event.clone().into_any().unbind();
        for &index in detectors {
            let answer = call(py, &self.detectors[index].key, &[&event_object]);
            let Some(key) = self.guarded(py, index, &event_object, answer)? else {
                continue;
            };
            if !key.is_none(py) {
                keys.push((index, key));
            }
        }
        Ok(keys)
    }

    /// The (detector, state key) pairs of an event; a detector whose key raised is reported.
    fn routes_of(
        &mut self,
        py: Python<'_>,
        event: &Bound<'_, PyTuple>,
        detectors: &[usize],
    ) -> PyResult<Vec<(usize, Route)>> {
        let mut routes = Vec::with_capacity(detectors.len());
        for (index, key) in self.keys_of(py, event, detectors)? {
            let key = key.bind(py);
            let key = key.downcast::<PyString>()?.to_str()?;
            routes.push((index, self.route_to(py, index, key)?));
        }
        Ok(routes)
    }

    /// The record of detector `index`'s `key`, held or to be made.
    fn route_to(&mut self, py: Python<'_>, index: usize, key: &str) -> PyResult<Route> {
        let name = self.detectors[index].name.bind(py).to_str()?;
        let text = &mut self.scratch;
        text.clear();
        text.push_str(name);
        text.push_str(SEPARATOR);
        text.push_str(key);
        Ok(
            match self.records.find(&HashedText::new(&self.key_hashing, text)) {
                Some(slot) => Route::Held(slot),
                None => Route::New(Skey::new(&self.key_hashing, text)),
            },
        )
    }

    /// engine.py's `_take`: queue an event in its keys' records, or apply it at once when late.
    fn take_routed(
        &mut self,
        py: Python<'_>,
        event: &Bound<'_, PyTuple>,
        time: i64,
        routes: Vec<(usize, Route)>,
        by_sources: bool,
    ) -> PyResult<()> {
        let id = event.get_item(0)?;
        let id = id.downcast::<PyString>()?.to_str()?;
        let waiting = Waiting::event(event.clone().into_any().unbind());
        self.take_waiting(py, waiting, id, time, routes, by_sources)
    }

    /// `take_routed` of an event made, or still its routed item's bytes (`take_message`).
    fn take_waiting(
        &mut self,
        py: Python<'_>,
        event: Waiting,
        id: &str,
        time: i64,
        routes: Vec<(usize, Route)>,
        by_sources: bool,
    ) -> PyResult<()> {
        let late = time < self.watermark;
        // In the records it waits in, or read again from the input after a restart.
        let kept = time <= self.kept_until;
        // A late event is applied now, a kept one written now: either needs its Event made.
        let event = if late || kept {
            Waiting::event(event.into_event(py, self.event_maker.as_ref())?)
        } else {
            event
        };
        if late {
            tell(py, &self.hooks.on_late, (made(py, &event)?, self.watermark))?;
        }
        let id = EventId::new(&self.key_hashing, id);
        let to_early = by_sources && self.arrivals.back_time().is_some_and(|last| time < last);
        // Written now, while the event's objects are fresh, for the records it waits in.
        let written = match (&self.changes, late, event.made(py)) {
            (Some(_), false, Some(made)) if kept && !routes.is_empty() => {
                event_bytes(made.bind(py).downcast::<PyTuple>()?)?
            }
            _ => None,
        };
        for (index, route) in routes {
            let slot = match route {
                Route::Held(slot) => slot,
                Route::New(skey) => self.new_record(py, index, skey, time),
            };
            if kept || late {
                self.mark_changed(slot); // else the record given out is as it was
            }
            let item = Pending {
                time,
                id: id.clone(),
                event: event.share(py),
                written: written.as_ref().map(|written| written.clone_ref(py)),
            };
            if late {
                let watermark = self.watermark;
                self.advance_key(py, slot, watermark)?;
                self.apply_event(py, slot, item)?;
                self.advance_key(py, slot, watermark)?;
                continue;
            }
            let record = self.records.held(slot);
            let pending = &mut record.pending;
            if pending.last().is_some_and(|last| last.time >= time) {
                let at = pending.partition_point(|p| (p.time, &p.id) <= (time, &id));
                pending.insert(at, item);
            } else {
                pending.push(item);
            }
            if to_early {
                let skey = record.key.clone();
                self.early.push(Reverse((time, skey)));
            } else {
                let arrival = self.records.queue(slot);
                self.arrivals.push_back(time, arrival);
            }
        }
        Ok(())
    }

    fn new_record(&mut self, py: Python<'_>, index: usize, skey: Skey, time: i64) -> Slot {
        let expiry = time + self.detectors[index].lifetime;
        self.wakeups.push(Reverse((expiry, EXPIRY, skey.clone())));
        self.keys[index] += 1;
        self.keys_changed.insert(index);
        self.born += 1;
        self.records.insert(Record {
            key: skey,
            detector: index as u32,
            queued: 0,
            born: self.born,
            state: PyDict::new_bound(py).unbind(),
            pending: SmallVec::new(),
            timers: Vec::new(),
            seen: SeenIds::default(),
            expiry,
            outcomes: Vec::new(),
            journey: None,
        })
    }

    fn take_emitted(&mut self, py: Python<'_>) -> PyObject {
        PyList::new_bound(py, self.emitted.drain(..))
            .into_any()
            .unbind()
    }

    /// The next arrival due before `watermark`: the FIFO's in order, then the early ones' in
    /// (time, key) order, as agenda.py's `due_arrivals` yields them; with the slot of the record
    /// its key has (None once the key was forgotten).
    fn pop_due_arrival(&mut self, watermark: i64) -> Option<Option<Slot>> {
        if self
            .arrivals
            .front_time()
            .is_some_and(|time| time < watermark)
        {
            let (_, arrival) = self.arrivals.pop_front()?;
            return Some(self.records.arrived(arrival));
        }
        if self
            .early
            .peek()
            .is_some_and(|Reverse((time, _))| *time < watermark)
        {
            let Reverse((_, skey)) = self.early.pop()?;
            return Some(self.records.find(&skey));
        }
        None
    }

    fn release(&mut self, py: Python<'_>, watermark: i64) -> PyResult<()> {
        if watermark <= self.watermark {
            return Ok(());
        }
        self.watermark = watermark;
        while let Some(due) = self.pop_due_arrival(watermark) {
            let Some(slot) = due else {
                continue;
            };
            if self
                .records
                .get(slot)
                .is_some_and(|record| !record.pending.is_empty())
            {
                self.advance_key(py, slot, watermark)?;
            }
        }
        while self
            .wakeups
            .peek()
            .is_some_and(|Reverse((at, _, _))| *at < watermark)
        {
            let Reverse((at, kind, skey)) = self.wakeups.pop().expect("checked");
            let Some(slot) = self.records.find(&skey) else {
                continue;
            };
            self.advance_key(py, slot, watermark)?;
            if kind == EXPIRY {
                self.expire_or_postpone(slot, at);
            }
        }
        if !self.keys_changed.is_empty() {
            let changed: Vec<usize> = self.keys_changed.drain().collect();
            for index in changed {
                let name = &self.detectors[index].name;
                tell(py, &self.hooks.on_state_size, (name, self.keys[index]))?;
            }
        }
        tell(py, &self.hooks.on_watermark, (watermark,))?;
        Ok(())
    }

    /// Apply a key's pending events and due deadlines before `limit`, in event-time order.
    fn advance_key(&mut self, py: Python<'_>, slot: Slot, limit: i64) -> PyResult<()> {
        self.mark_changed(slot);
        loop {
            let Some(record) = self.records.get_mut(slot) else {
                return Ok(());
            };
            let event_at = record.pending.first().map_or(limit, |p| p.time);
            if let Some(journey) = &record.journey {
                let at = journey.deadline;
                if at < limit && at < event_at {
                    let journey = record.journey.take().expect("checked");
                    let index = record.detector();
                    self.decide_journey(py, index, journey, false, at)?;
                    continue;
                }
            }
            if !record.outcomes.is_empty() {
                let (at, due) = record
                    .outcomes
                    .iter()
                    .enumerate()
                    .map(|(i, open)| (open.deadline, i))
                    .min()
                    .expect("not empty");
                if at < limit && at < event_at {
                    let open = record.outcomes.remove(due);
                    let index = record.detector();
                    self.decide(py, index, open, false, at)?;
                    continue;
                }
            }
            if let Some(timer_at) = record.timers.iter().map(|(_, at)| *at).min() {
                if timer_at < limit && timer_at < event_at {
                    let due = record
                        .timers
                        .iter()
                        .position(|(_, at)| *at == timer_at)
                        .expect("min");
                    let (tag, _) = record.timers.remove(due);
                    self.on_deadline(py, slot, tag, timer_at)?;
                    continue;
                }
            }
            if event_at >= limit {
                return Ok(());
            }
            let item = record.pending.remove(0);
            self.apply_event(py, slot, item)?;
        }
    }

    fn expire_or_postpone(&mut self, slot: Slot, at: i64) {
        let Some(record) = self.records.get_mut(slot) else {
            return;
        };
        let lifetime = self.detectors[record.detector()].lifetime;
        let mut expiry = record.expiry;
        if let Some(last) = record.timers.iter().map(|(_, at)| *at).max() {
            expiry = expiry.max(last + 1);
        }
        let mut wake = expiry;
        if let Some(last) = record.pending.last() {
            wake = wake.max(last.time + lifetime);
        }
        if let Some(last) = record.outcomes.iter().map(|open| open.deadline).max() {
            wake = wake.max(last);
        }
        if let Some(journey) = &record.journey {
            wake = wake.max(journey.deadline);
        }
        if wake > at {
            record.expiry = expiry;
            self.wakeups
                .push(Reverse((wake, EXPIRY, record.key.clone())));
            return;
        }
        self.forget(slot);
    }

    /// Remove the slot's record and count its key gone (a change, when they are tracked).
    fn forget(&mut self, slot: Slot) {
        let record = self.records.held(slot);
        let index = record.detector();
        if let Some(changes) = &mut self.changes {
            changes.note(&record.key);
        }
        self.records.remove(slot);
        self.keys[index] -= 1;
        self.keys_changed.insert(index);
    }

    fn apply_event(&mut self, py: Python<'_>, slot: Slot, item: Pending) -> PyResult<()> {
        let event = item.event.into_event(py, self.event_maker.as_ref())?;
        let horizon = self.dedup_horizon;
        let record = self.records.held(slot);
        let index = record.detector();
        let time = item.time;
        if time > record.expiry && record.timers.is_empty() {
            // Idle past its lifetime: start afresh, as engine.py does.
            record.state = PyDict::new_bound(py).unbind();
            record.seen.clear();
        }
        if record.seen.contains(&item.id) {
            let name = &self.detectors[index].name;
            tell(py, &self.hooks.on_duplicate, (name, event))?;
            return Ok(());
        }
        record.seen.trim(time - horizon);
        record.seen.push(item.id, time);
        let detector = &self.detectors[index];
        let expiry = time + detector.lifetime;
        if expiry > record.expiry {
            record.expiry = expiry;
        }
        let state = record.state.clone_ref(py);
        let on_event = detector.on_event.clone_ref(py);
        let reacted = self.react(py, slot, time, |reaction| {
            call(py, &on_event, &[state.as_any(), &event, reaction.as_any()]).map(drop)
        });
        self.guarded(py, index, &event, reacted)?;
        let window = self.detectors[index].window;
        if window != 0 {
            if self
                .records
                .get(slot)
                .is_some_and(|record| record.journey.is_none())
            {
                self.start_journey(py, slot, index, &event, time, window)?;
            }
            let open = self
                .records
                .get(slot)
                .is_some_and(|record| !record.outcomes.is_empty() || record.journey.is_some());
            if open {
                self.complete(py, slot, index, &event, time)?;
            }
        }
        Ok(())
    }

    fn on_deadline(&mut self, py: Python<'_>, slot: Slot, tag: String, at: i64) -> PyResult<()> {
        let record = self.records.held(slot);
        let index = record.detector();
        let state = record.state.clone_ref(py);
        let on_deadline = self.detectors[index].on_deadline.clone_ref(py);
        let reacted = self.react(py, slot, at, |reaction| {
            on_deadline
                .call1(py, (state.clone_ref(py), tag.clone(), reaction))
                .map(drop)
        });
        self.guarded(py, index, &py.None(), reacted)?;
        Ok(())
    }

    /// Call a detector with the reaction bound to `slot`'s record; its deadlines, open outcomes
    /// and journey move into the reaction and back. The call's result is returned for the
    /// caller to guard (`guarded`: reported with the event, or the run stopped).
    fn react<F>(&mut self, py: Python<'_>, slot: Slot, now: i64, call: F) -> PyResult<()>
    where
        F: FnOnce(Py<Reaction>) -> PyResult<()>,
    {
        let record = self.records.held(slot);
        let detector = &self.detectors[record.detector()];
        {
            let mut reaction = self.reaction.borrow_mut(py);
            reaction.now = now;
            reaction.detector = Some(detector.name.clone_ref(py));
            reaction.window = detector.window;
            reaction.kinds = detector.kinds.as_ref().map(|kinds| kinds.clone_ref(py));
            reaction.interrupts = Some(detector.interrupts.clone_ref(py));
            reaction.segment_of = Some(detector.segment_of.clone_ref(py));
            reaction.timers = std::mem::take(&mut record.timers);
            reaction.outcomes = std::mem::take(&mut record.outcomes);
            reaction.journey = record.journey.take();
        }
        let result = call(self.reaction.clone_ref(py));
        let wakes = {
            let mut reaction = self.reaction.borrow_mut(py);
            self.emitted.append(&mut reaction.emitted);
            record.timers = std::mem::take(&mut reaction.timers);
            record.outcomes = std::mem::take(&mut reaction.outcomes);
            record.journey = reaction.journey.take();
            std::mem::take(&mut reaction.wakes)
        };
        for at in wakes {
            self.wakeups
                .push(Reverse((at, DEADLINE, record.key.clone())));
        }
        result
    }

    fn start_journey(
        &mut self,
        py: Python<'_>,
        slot: Slot,
        index: usize,
        event: &PyObject,
        time: i64,
        window: i64,
    ) -> PyResult<()> {
        let starts = &self.detectors[index].starts;
        let Some(segment) = self.ask(py, slot, index, starts, event, Ok)? else {
            return Ok(());
        };
        if segment.is_none(py) {
            return Ok(());
        }
        let deadline = time + window;
        let record = self.records.held(slot);
        record.journey = Some(Journey {
            start: time,
            deadline,
            segment: Some(segment.clone_ref(py)),
        });
        self.wakeups
            .push(Reverse((deadline, DEADLINE, record.key.clone())));
        let name = &self.detectors[index].name;
        tell(py, &self.hooks.on_journey_opened, (name, segment, false))?;
        Ok(())
    }

    fn complete(
        &mut self,
        py: Python<'_>,
        slot: Slot,
        index: usize,
        event: &PyObject,
        time: i64,
    ) -> PyResult<()> {
        let completes = &self.detectors[index].completes;
        let truthy = |answer: PyObject| answer.is_truthy(py);
        if self.ask(py, slot, index, completes, event, truthy)? != Some(true) {
            return Ok(());
        }
        let record = self.records.held(slot);
        let mut done = Vec::new();
        let mut still_open = Vec::new();
        for open in std::mem::take(&mut record.outcomes) {
            if open.found <= time && time <= open.deadline {
                done.push(open);
            } else {
                still_open.push(open);
            }
        }
        record.outcomes = still_open;
        let journey = match &record.journey {
            Some(journey) if journey.start <= time && time <= journey.deadline => {
                record.journey.take()
            }
            _ => None,
        };
        for open in done {
            self.decide(py, index, open, true, time)?;
        }
        if let Some(journey) = journey {
            self.decide_journey(py, index, journey, true, time)?;
        }
        Ok(())
    }

    /// A journey method's answer (`starts_journey`, `completes_journey`) to the key's state and
    /// `event`, as `read` takes it; None once an error in either is reported (`guarded`).
    fn ask<T>(
        &self,
        py: Python<'_>,
        slot: Slot,
        index: usize,
        method: &PyObject,
        event: &PyObject,
        read: impl FnOnce(PyObject) -> PyResult<T>,
    ) -> PyResult<Option<T>> {
        let state = &self.records.get(slot).expect("the caller holds it").state;
        let answer = call(py, method, &[state.as_any(), event]).and_then(read);
        self.guarded(py, index, event, answer)
    }

    fn outcome_word(&self, py: Python<'_>, completed: bool) -> PyObject {
        if completed {
            self.kinds.completed.clone_ref(py)
        } else {
            self.kinds.abandoned.clone_ref(py)
        }
    }

    fn decide(
        &mut self,
        py: Python<'_>,
        index: usize,
        open: OpenOutcome,
        completed: bool,
        time: i64,
    ) -> PyResult<()> {
        let fields = PyDict::new_bound(py);
        fields.set_item("finding_id", open.finding_id)?;
        fields.set_item("detector", &self.detectors[index].name)?;
        fields.set_item("kind", open.kind)?;
        fields.set_item("outcome", self.outcome_word(py, completed))?;
        fields.set_item("time_ms", time)?;
        fields.set_item("segment", open.segment)?;
        let decided = self.kinds.outcome.call_bound(py, (), Some(&fields))?;
        self.outcomes.push(decided.clone_ref(py));
        tell(py, &self.hooks.on_outcome, (decided,))?;
        Ok(())
    }

    fn decide_journey(
        &mut self,
        py: Python<'_>,
        index: usize,
        journey: Journey,
        completed: bool,
        time: i64,
    ) -> PyResult<()> {
        let (Some(segment), Some(on_journey)) = (journey.segment, &self.hooks.on_journey) else {
            return Ok(());
        };
        let name = self.detectors[index].name.clone_ref(py);
        let outcome = self.outcome_word(py, completed);
        let decided = self
            .kinds
            .journey_outcome
            .call1(py, (name, segment, outcome, time))?;
        on_journey.call1(py, (decided,))?;
        Ok(())
    }

    /// A detector's answer, or None once its error is reported (engine.py catches `Exception`
    /// around every detector call, so a plugin's bug does not stop the run); anything else, such
    /// as KeyboardInterrupt, stops the run.
    fn guarded<T>(
        &self,
        py: Python<'_>,
        index: usize,
        event: &PyObject,
        answer: PyResult<T>,
    ) -> PyResult<Option<T>> {
        match answer {
            Ok(answer) => Ok(Some(answer)),
            Err(error) if is_exception(py, &error) => {
                self.detector_error(py, index, event.clone_ref(py), error)?;
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    fn detector_error(
        &self,
        py: Python<'_>,
        index: usize,
        event: PyObject,
        error: PyErr,
    ) -> PyResult<()> {
        let name = &self.detectors[index].name;
        tell(
            py,
            &self.hooks.on_detector_error,
            (name, event, error.value_bound(py)),
        )?;
        Ok(())
    }
}
