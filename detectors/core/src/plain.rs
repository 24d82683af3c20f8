//! A key's record as engine.py's plain data (`Engine._new_record`'s dict), and back: what a
//! store that leaves the process, such as the worker's changelog, holds for the key.
//!
//! `s` the detector's state (the same dict the detector changes), `p` the waiting events as
//! lists of their fields, `t` the deadlines by tag in the order they were set, `d` the applied
//! event ids with their times, oldest first, `x` the expiry time; `o` the open outcomes and `j`
//! the open journey only while there are any, as engine.py deletes them once decided. A
//! runtime that reads its waiting events again from its input has `p` hold only those the
//! engine keeps (engine.rs `kept_until`).

use crate::hashed::{EventId, Skey};
use crate::record::{made, Journey, OpenOutcome, Pending, Record, SeenIds, Waiting};
use ahash::RandomState;
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use smallvec::SmallVec;

/// The record as plain data, with its waiting events up to `kept_until` (the engine's).
pub(crate) fn plain_record<'py>(
    py: Python<'py>,
    record: &Record,
    kept_until: i64,
) -> PyResult<Bound<'py, PyDict>> {
    let plain = PyDict::new_bound(py);
    plain.set_item("s", record.state.bind(py))?;
    let pending = PyList::empty_bound(py);
    for waiting in record.pending.iter().filter(|w| w.time <= kept_until) {
        let fields = made(py, &waiting.event)?.bind(py).downcast::<PyTuple>()?;
        pending.append(PyList::new_bound(py, fields.iter()))?;
    }
    plain.set_item("p", pending)?;
    let timers = PyDict::new_bound(py);
    for (tag, at) in &record.timers {
        timers.set_item(tag, at)?;
    }
    plain.set_item("t", timers)?;
    let seen = PyDict::new_bound(py);
    for applied in record.seen.iter() {
        seen.set_item(applied.id.text(), applied.time)?;
    }
    plain.set_item("d", seen)?;
    plain.set_item("x", record.expiry)?;
    if !record.outcomes.is_empty() {
        let outcomes = PyList::empty_bound(py);
        for open in &record.outcomes {
            let fields: [PyObject; 5] = [
                open.finding_id.clone_ref(py),
                open.kind.clone_ref(py),
                open.found.into_py(py),
                open.deadline.into_py(py),
                open.segment.clone_ref(py),
            ];
            outcomes.append(PyList::new_bound(py, fields))?;
        }
        plain.set_item("o", outcomes)?;
    }
    if let Some(journey) = &record.journey {
        let segment = match &journey.segment {
            Some(segment) => segment.clone_ref(py),
            None => py.None(),
        };
        let fields: [PyObject; 3] = [
            journey.start.into_py(py),
            journey.deadline.into_py(py),
            segment,
        ];
        plain.set_item("j", PyList::new_bound(py, fields))?;
    }
    Ok(plain)
}

/// A record from engine.py's plain data, its waiting events already Events (`p`): what a
/// store outside the process gives back after a restart. Ids and keys are hashed with
/// `hashing`, the engine's.
pub(crate) fn record_from_plain(
    py: Python<'_>,
    plain: &Bound<'_, PyDict>,
    key: Skey,
    detector: usize,
    born: u64,
    hashing: &RandomState,
) -> PyResult<Record> {
    let field = |name: &str| -> PyResult<Bound<'_, PyAny>> {
        plain
            .get_item(name)?
            .ok_or_else(|| PyKeyError::new_err(format!("record {} has no {name:?}", key.text())))
    };
    let mut pending: SmallVec<[Pending; 1]> = SmallVec::new();
    for event in field("p")?.iter()? {
        let event = event?;
        let fields = event.downcast::<PyTuple>()?;
        let id = fields.get_item(0)?;
        pending.push(Pending {
            time: fields.get_item(2)?.extract()?,
            id: EventId::new(hashing, id.downcast::<PyString>()?.to_str()?),
            event: Waiting::event(event.unbind()),
            written: None,
        });
    }
    let mut timers = Vec::new();
    for (tag, at) in field("t")?.downcast::<PyDict>()?.iter() {
        timers.push((tag.extract::<String>()?, at.extract::<i64>()?));
    }
    let mut seen = SeenIds::default();
    for (id, at) in field("d")?.downcast::<PyDict>()?.iter() {
        let text = id.downcast::<PyString>()?.to_str()?;
        seen.push(EventId::new(hashing, text), at.extract()?);
    }
    let mut outcomes = Vec::new();
    if let Some(open) = plain.get_item("o")? {
        for fields in open.iter()? {
            let fields = fields?;
            // Outcomes opened before they carried a segment have none, as engine.py reads them.
            let segment = match fields.len()? {
                n if n > 4 => fields.get_item(4)?.unbind(),
                _ => PyString::new_bound(py, "").into_any().unbind(),
            };
            outcomes.push(OpenOutcome {
                finding_id: fields.get_item(0)?.unbind(),
                kind: fields.get_item(1)?.unbind(),
                found: fields.get_item(2)?.extract()?,
                deadline: fields.get_item(3)?.extract()?,
                segment,
            });
        }
    }
    let journey = match plain.get_item("j")? {
        Some(fields) => {
            let segment = fields.get_item(2)?;
            Some(Journey {
                start: fields.get_item(0)?.extract()?,
                deadline: fields.get_item(1)?.extract()?,
                segment: (!segment.is_none()).then(|| segment.unbind()),
            })
        }
        None => None,
    };
    Ok(Record {
        journey,
        born,
        queued: 0,
        detector: detector as u32,
        pending,
        expiry: field("x")?.extract()?,
        timers,
        outcomes,
        state: field("s")?.downcast_into::<PyDict>()?.unbind(),
        seen,
        key,
    })
}
