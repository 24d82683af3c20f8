//! The observer's hooks, as the core calls them.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// The observer's hooks that its class overrides, bound once; the others do nothing, and most
/// are called per event or per key, so they are not called at all.
pub(crate) struct Hooks {
    pub(crate) on_event: Option<PyObject>,
    pub(crate) on_late: Option<PyObject>,
    pub(crate) on_duplicate: Option<PyObject>,
    pub(crate) on_finding: Option<PyObject>,
    pub(crate) on_outcome: Option<PyObject>,
    pub(crate) on_journey_opened: Option<PyObject>,
    pub(crate) on_journey: Option<PyObject>,
    pub(crate) on_measurement: Option<PyObject>,
    pub(crate) on_state_size: Option<PyObject>,
    pub(crate) on_watermark: Option<PyObject>,
    pub(crate) on_detector_error: Option<PyObject>,
}

/// Call a hook the observer has, if it has it.
pub(crate) fn tell<A: IntoPy<Py<PyTuple>>>(
    py: Python<'_>,
    hook: &Option<PyObject>,
    args: A,
) -> PyResult<()> {
    if let Some(hook) = hook {
        hook.call1(py, args)?;
    }
    Ok(())
}
