//! The context a detector reacts with (engine.py's `_Reaction`).

use crate::hooks::tell;
use crate::record::{Journey, OpenOutcome};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// The context a detector reacts with; the key's deadlines, open outcomes and journey are moved
/// in for the length of one reaction, so `emit` and `schedule` act on them as engine.py does.
// Sendable (every field is), so PyO3 checks no thread at each of its many calls per event.
#[pyclass]
pub(crate) struct Reaction {
    #[pyo3(get)]
    pub(crate) now: i64,
    pub(crate) detector: Option<Py<PyString>>,
    pub(crate) window: i64,
    pub(crate) kinds: Option<PyObject>,
    pub(crate) interrupts: Option<PyObject>,
    pub(crate) segment_of: Option<PyObject>,
    pub(crate) finding: PyObject,
    pub(crate) on_finding: Option<PyObject>,
    pub(crate) on_journey_opened: Option<PyObject>,
    pub(crate) on_measurement: Option<PyObject>,
    pub(crate) emitted: Vec<PyObject>,
    pub(crate) timers: Vec<(String, i64)>,
    pub(crate) outcomes: Vec<OpenOutcome>,
    pub(crate) journey: Option<Journey>,
    pub(crate) wakes: Vec<i64>,
}

#[pymethods]
impl Reaction {
    #[pyo3(signature = (kind, *, severity, subject, summary, evidence, user_id=None, session_id=None, segment=None, time_ms=None))]
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        py: Python<'_>,
        kind: PyObject,
        severity: PyObject,
        subject: PyObject,
        summary: PyObject,
        evidence: PyObject,
        user_id: Option<PyObject>,
        session_id: Option<PyObject>,
        segment: Option<PyObject>,
        time_ms: Option<PyObject>,
    ) -> PyResult<()> {
        let name = self
            .detector
            .as_ref()
            .expect("a reaction has a detector")
            .clone_ref(py);
        let fields = PyDict::new_bound(py);
        fields.set_item("detector", &name)?;
        fields.set_item("kind", &kind)?;
        fields.set_item("severity", severity)?;
        match time_ms {
            Some(time) if !time.is_none(py) => fields.set_item("time_ms", time)?,
            _ => fields.set_item("time_ms", self.now)?,
        }
        fields.set_item("subject", subject)?;
        fields.set_item("summary", summary)?;
        fields.set_item("evidence", evidence)?;
        fields.set_item("user_id", user_id)?;
        fields.set_item("session_id", session_id)?;
        if let Some(segment) = segment {
            fields.set_item("segment", segment)?;
        }
        let finding = self.finding.call_bound(py, (), Some(&fields))?;
        self.emitted.push(finding.clone_ref(py));
        tell(py, &self.on_finding, (&finding,))?;
        let Some(kinds) = &self.kinds else {
            return Ok(());
        };
        if !kinds.bind(py).contains(&kind)? {
            return Ok(());
        }
        let interrupts = self
            .interrupts
            .as_ref()
            .expect("journey detector")
            .clone_ref(py);
        if !interrupts.call1(py, (&finding,))?.is_truthy(py)? {
            return Ok(());
        }
        let bound = finding.bind(py);
        let found: i64 = bound.getattr("time_ms")?.extract()?;
        let deadline = found + self.window;
        let segment_of = self
            .segment_of
            .as_ref()
            .expect("journey detector")
            .clone_ref(py);
        let segment = segment_of.call1(py, (&finding,))?;
        self.outcomes.push(OpenOutcome {
            finding_id: bound.getattr("finding_id")?.unbind(),
            kind,
            found,
            deadline,
            segment: segment.clone_ref(py),
        });
        self.wakes.push(deadline);
        tell(py, &self.on_journey_opened, (&name, segment, true))?;
        match &mut self.journey {
            None => {
                self.journey = Some(Journey {
                    start: found,
                    deadline,
                    segment: None,
                })
            }
            Some(journey) => {
                journey.segment = None;
                journey.deadline = journey.deadline.max(deadline);
            }
        }
        Ok(())
    }

    fn schedule(&mut self, tag: String, at_ms: i64) {
        match self.timers.iter_mut().find(|(t, _)| *t == tag) {
            Some(timer) => timer.1 = at_ms,
            None => self.timers.push((tag, at_ms)),
        }
        self.wakes.push(at_ms);
    }

    fn cancel(&mut self, tag: &str) {
        if let Some(at) = self.timers.iter().position(|(t, _)| t == tag) {
            self.timers.remove(at);
        }
    }

    #[pyo3(signature = (measurement, seconds, segment=None))]
    fn observe(
        &self,
        py: Python<'_>,
        measurement: PyObject,
        seconds: PyObject,
        segment: Option<PyObject>,
    ) -> PyResult<()> {
        let Some(on_measurement) = &self.on_measurement else {
            return Ok(());
        };
        let segment = segment.unwrap_or_else(|| PyString::new_bound(py, "").into_any().unbind());
        let name = self.detector.as_ref().expect("a reaction has a detector");
        on_measurement.call1(py, (name, measurement, seconds, segment, self.now))?;
        Ok(())
    }
}
