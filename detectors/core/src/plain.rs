//! A key's record as engine.py's plain data (`Engine._new_record`'s dict): what a store that
//! leaves the process, such as the worker's changelog, holds for the key.
//!
//! `s` the detector's state (the same dict the detector changes), `p` the waiting events as
//! lists of their fields, `t` the deadlines by tag in the order they were set, `d` the applied
//! event ids with their times, oldest first, `x` the expiry time; `o` the open outcomes and `j`
//! the open journey only while there are any, as engine.py deletes them once decided.

use crate::record::Record;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

pub(crate) fn plain_record<'py>(py: Python<'py>, record: &Record) -> PyResult<Bound<'py, PyDict>> {
    let plain = PyDict::new_bound(py);
    plain.set_item("s", record.state.bind(py))?;
    let pending = PyList::empty_bound(py);
    for waiting in &record.pending {
        let fields = waiting.event.bind(py).downcast::<PyTuple>()?;
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
