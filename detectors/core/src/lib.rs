//! The detection core compiled: engine.py's event-time engine for a run that keeps its state in
//! its own process (replay), with each key's pending events, deadlines, seen ids, open outcomes
//! and journey held as Rust values instead of Python dicts and lists.
//!
//! Detectors stay Python: the core calls their `key`, `on_event`, `on_deadline` and journey
//! methods, and hands them a context whose `emit`, `schedule`, `cancel` and `observe` act as
//! engine.py's `_Reaction` does. Every rule, and the order in which keys are visited, follows
//! engine.py and agenda.py line for line, so both produce the same findings in the same order;
//! tests/unit/test_compiled_engine.py runs both on the same streams and compares everything.
//!
//! `engine` is the engine; a key's record is in `record`, the records by slot in `records`, the
//! FIFO of arrivals in `arrivals`, the context a detector reacts with in `reaction`, the
//! observer's hooks in `hooks`, a record as engine.py's plain data in `plain` and as its
//! changelog bytes in `serialized`, the keys and event ids with their hash carried in `hashed`,
//! and calls into Python (and Events built for it) without intermediate tuples in `calls`.
//! `usual_events` and `timefmt` are the decoder's fast path (events.py), which the worker uses
//! too; `partition` is Kafka's default partitioner, by which the worker routes, and `routed`
//! stage 1's routed items.

// PyO3 0.22's #[pymethods] expansion converts PyErr into itself, which clippy flags.
#![allow(clippy::useless_conversion)]

mod arrivals;
mod calls;
mod engine;
mod hashed;
mod hooks;
mod partition;
mod plain;
mod reaction;
mod record;
mod records;
mod routed;
mod routed_message;
mod serialized;
mod timefmt;
mod usual_events;

use pyo3::prelude::*;

#[pymodule]
fn _core(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<engine::CompiledEngine>()?;
    module.add_class::<reaction::Reaction>()?;
    module.add_function(wrap_pyfunction!(timefmt::usual_time, module)?)?;
    module.add_class::<usual_events::UsualEvents>()?;
    module.add_function(wrap_pyfunction!(partition::partition_for, module)?)?;
    Ok(())
}
