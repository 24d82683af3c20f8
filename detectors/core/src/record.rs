//! A key's record: its state, waiting events, deadlines, seen ids, open outcomes, journey.

use crate::hashed::{CarriedHash, EventId, Skey};
use crate::routed_message::EventMaker;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use smallvec::SmallVec;
use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasherDefault;

const DEDUP_TRIM_AT: usize = 8;

/// A set of texts with their hashes carried (event ids, record keys): no hashing again.
pub(crate) type HashedSet = HashSet<EventId, BuildHasherDefault<CarriedHash>>;

/// An event waiting in its key's record, ordered by (time, event id).
pub(crate) struct Pending {
    pub(crate) time: i64,
    pub(crate) id: EventId,
    pub(crate) event: Waiting,
    /// The event as its record's changelog bytes hold it (serialized.rs `event_bytes`), written
    /// when it was taken, while its objects were fresh in the processor's cache: written a
    /// batch later, each field was a cache miss. A waiting event has been handed to no
    /// detector yet, so the bytes stay its own. None in an engine that tracks no changes
    /// (replay), for an event taken up from a store, or where a value needs the changelog's
    /// serializer: the record writes those from the event.
    pub(crate) written: Option<Py<PyBytes>>,
}

/// A waiting event: the Event detectors are handed, or the bytes of the routed item it came in
/// (routed_message.rs), made that Event only when a detector or a record needs it. Made at once,
/// a routed message's events were Python objects for as long as they waited, and read again,
/// long out of the processor's cache, when the watermark reached them. The bytes are a Python
/// bytes object, told from an Event (a tuple) by its type: one pointer either way, so a record's
/// inline waiting event still fits its first cache lines.
pub(crate) struct Waiting(PyObject);

impl Waiting {
    pub(crate) fn event(event: PyObject) -> Self {
        Waiting(event)
    }

    /// A routed item's event fields (routed_message.rs `event_fields`).
    pub(crate) fn routed(fields: Bound<'_, PyBytes>) -> Self {
        Waiting(fields.into_any().unbind())
    }

    /// The Event, if it is made already (a routed item is made one by the engine, which knows
    /// the Event class).
    pub(crate) fn made(&self, py: Python<'_>) -> Option<&PyObject> {
        (!self.0.bind(py).is_exact_instance_of::<PyBytes>()).then_some(&self.0)
    }

    /// The Event, made now by `maker` if it is still a routed item's bytes (`maker` is set
    /// wherever a routed item was taken: `take_message` sets it first).
    pub(crate) fn into_event(
        self,
        py: Python<'_>,
        maker: Option<&EventMaker>,
    ) -> PyResult<PyObject> {
        match self.0.bind(py).downcast_exact::<PyBytes>() {
            Ok(fields) => maker
                .expect("set with the first routed item")
                .make(py, fields),
            Err(_) => Ok(self.0),
        }
    }

    /// The same event for another of its keys' records.
    pub(crate) fn share(&self, py: Python<'_>) -> Waiting {
        Waiting(self.0.clone_ref(py))
    }
}

/// A waiting event a record holds as data: made already, as every event is that a record keeps
/// (`take_waiting` and `keep_waiting` make them).
pub(crate) fn made<'a>(py: Python<'_>, waiting: &'a Waiting) -> PyResult<&'a PyObject> {
    waiting.made(py).ok_or_else(|| {
        pyo3::exceptions::PyRuntimeError::new_err("a record keeps a routed item not made an Event")
    })
}

/// The ids a key has applied, oldest first (engine.py's `d`); past a few it keeps a set of them
/// too, so a long-lived key's check stays a lookup.
#[derive(Default)]
pub(crate) struct SeenIds {
    order: VecDeque<Seen>,
    index: Option<HashedSet>,
}

const SEEN_SCAN_LIMIT: usize = 16;

/// An applied event's id and when it was applied.
pub(crate) struct Seen {
    pub(crate) id: EventId,
    pub(crate) time: i64,
}

impl SeenIds {
    pub(crate) fn contains(&self, id: &EventId) -> bool {
        match &self.index {
            Some(index) => index.contains(id),
            None => self.order.iter().any(|seen| seen.id == *id),
        }
    }

    pub(crate) fn push(&mut self, id: EventId, time: i64) {
        if let Some(index) = &mut self.index {
            index.insert(id.clone());
        } else if self.order.len() >= SEEN_SCAN_LIMIT {
            let mut index: HashedSet = self.order.iter().map(|seen| seen.id.clone()).collect();
            index.insert(id.clone());
            self.index = Some(index);
        }
        self.order.push_back(Seen { id, time });
    }

    /// Drop the oldest id if it is older than `before`: at most one per event, as engine.py.
    pub(crate) fn trim(&mut self, before: i64) {
        if self.order.len() >= DEDUP_TRIM_AT
            && self.order.front().is_some_and(|seen| seen.time < before)
        {
            let oldest = self.order.pop_front().expect("checked");
            if let Some(index) = &mut self.index {
                index.remove(&oldest.id);
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.order.clear();
        self.index = None;
    }

    /// The ids with the time each was applied, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Seen> {
        self.order.iter()
    }
}

/// A finding's open outcome: engine.py's `o` entries.
pub(crate) struct OpenOutcome {
    pub(crate) finding_id: PyObject,
    pub(crate) kind: PyObject,
    pub(crate) found: i64,
    pub(crate) deadline: i64,
    pub(crate) segment: PyObject,
}

/// The key's open journey: engine.py's `j`; no segment once a finding interrupted it.
pub(crate) struct Journey {
    pub(crate) start: i64,
    pub(crate) deadline: i64,
    pub(crate) segment: Option<PyObject>,
}

/// What the core keeps for one key of one detector (engine.py's record): the detector's state
/// dict, the events waiting for the watermark, its deadlines, the ids it applied, the open
/// outcomes of its findings, its journey; `born` orders keys as they were made, `expiry` is when
/// it may be forgotten once idle, `queued` counts its arrivals waiting for the watermark.
///
/// Laid out in the order the watermark reads it: an arrival's record is cold when the watermark
/// reaches it (its event was read ~70k events before), so what every arrival checks (the journey,
/// whose tag also tells an empty slot, `born`, `queued`, the first waiting event's time) shares
/// the record's first cache line; a key's first waiting event is kept inline.
#[repr(C, align(64))]
pub(crate) struct Record {
    pub(crate) journey: Option<Journey>,
    pub(crate) born: u64,
    pub(crate) queued: u32,
    /// The detector's index in the engine's (u32: with `queued`, one word of the first line).
    pub(crate) detector: u32,
    pub(crate) pending: SmallVec<[Pending; 1]>,
    pub(crate) expiry: i64,
    pub(crate) timers: Vec<(String, i64)>,
    pub(crate) outcomes: Vec<OpenOutcome>,
    pub(crate) state: Py<PyDict>,
    pub(crate) seen: SeenIds,
    pub(crate) key: Skey,
}

// Four cache lines: what the watermark reads of a cold record stays in its first.
const _: () = assert!(std::mem::size_of::<Record>() == 256);

impl Record {
    /// The detector's index in the engine's.
    pub(crate) fn detector(&self) -> usize {
        self.detector as usize
    }
}
