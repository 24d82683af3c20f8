//! events.py's fast path compiled: an envelope msgspec has read (its types already checked)
//! becomes an Event when it passes every rule of `EventDecoder._accept`, with the same
//! answers. Anything this path is unsure of (a rule it does not know, a time only timefmt.py
//! reads, text it cannot read) goes to the Python rule it came from or, failing that, to the
//! checked path (None), which finds the broken rule and says why.

use crate::calls::{new_tuple_of, tuple_class};
use crate::timefmt::usual_time;
use ahash::HashMap;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyString, PyType};

/// One `attrs` rule of an event type, as schema.py's `Attr.acceptor` decides it.
enum Check {
    /// A non-empty string.
    Text,
    /// A string among these.
    Choice(Vec<String>),
    /// An int or float (not a bool), at least `minimum` when given (compared as Python does).
    Number(Option<PyObject>),
    /// Any other kind: the rule's own acceptor, called.
    Python(PyObject),
}

struct Rule {
    name: Py<PyString>,
    required: bool,
    check: Check,
}

/// The rules of one event type, and its name as the rules gave it: an accepted event of a
/// known type carries that one string, not a copy per message, so the engine's and the
/// detectors' comparisons and lookups of the type find the same object.
struct TypeRules {
    name: Py<PyString>,
    rules: Vec<Rule>,
}

/// The attribute rules of every event type and the envelope's limits, for `accept`.
// Sendable (every field is), so PyO3 checks no thread at each of its many calls per event.
#[pyclass]
pub struct UsualEvents {
    rules: HashMap<String, TypeRules>,
    max_attrs: usize,
    event_class: Py<PyType>,
    parse_time: PyObject,
}

#[pymethods]
impl UsualEvents {
    /// `rules`: {event type: [(name, required, kind, minimum, choices, acceptor)]}, kind being
    /// "string", "number" or another schema.py kind (then `acceptor` decides).
    #[new]
    fn new(
        rules: &Bound<'_, PyDict>,
        max_attrs: usize,
        event_class: Bound<'_, PyType>,
        parse_time: PyObject,
    ) -> PyResult<Self> {
        let mut by_type = HashMap::default();
        for (event_type, type_rules) in rules.iter() {
            let mut checks = Vec::new();
            for rule in type_rules.iter()? {
                let (name, required, kind, minimum, choices, acceptor): (
                    Py<PyString>,
                    bool,
                    String,
                    Option<PyObject>,
                    Vec<String>,
                    PyObject,
                ) = rule?.extract()?;
                let check = match kind.as_str() {
                    "string" if choices.is_empty() => Check::Text,
                    "string" => Check::Choice(choices),
                    "number" => Check::Number(minimum),
                    _ => Check::Python(acceptor),
                };
                checks.push(Rule {
                    name,
                    required,
                    check,
                });
            }
            let name = event_type.downcast_into::<PyString>()?;
            by_type.insert(
                name.to_str()?.to_owned(),
                TypeRules {
                    name: name.unbind(),
                    rules: checks,
                },
            );
        }
        Ok(Self {
            rules: by_type,
            max_attrs,
            event_class: tuple_class(event_class)?,
            parse_time,
        })
    }

    /// The Event, if `envelope` passes every rule and its time is not after `horizon_ms`;
    /// None sends the message to the checked path.
    fn accept(
        &self,
        py: Python<'_>,
        envelope: &Bound<'_, PyAny>,
        horizon_ms: i64,
    ) -> PyResult<Option<PyObject>> {
        let time = envelope.getattr(intern!(py, "time"))?;
        let time_ms = match usual_time(&time) {
            Some(ms) => ms,
            None => {
                let parsed = self.parse_time.bind(py).call1((time,))?;
                if parsed.is_none() {
                    return Ok(None);
                }
                parsed.extract::<i64>()?
            }
        };
        if time_ms > horizon_ms {
            return Ok(None);
        }
        let attrs = envelope.getattr(intern!(py, "attrs"))?;
        let attrs = if attrs.is_none() {
            PyDict::new_bound(py)
        } else {
            let attrs = attrs.downcast_into::<PyDict>()?;
            if attrs.len() > self.max_attrs {
                return Ok(None);
            }
            attrs
        };
        let event_type = envelope.getattr(intern!(py, "type"))?;
        let Ok(type_text) = event_type.downcast::<PyString>()?.to_str() else {
            return Ok(None);
        };
        let event_type = match self.rules.get(type_text) {
            Some(known) => {
                for rule in &known.rules {
                    // Absent and null are alike, as `attrs.get(name)` answers None for both.
                    let value = attrs.get_item(rule.name.bind(py))?;
                    let passes = match value.filter(|value| !value.is_none()) {
                        Some(value) => accepts(&rule.check, &value)?,
                        None => !rule.required,
                    };
                    if !passes {
                        return Ok(None);
                    }
                }
                known.name.bind(py).clone().into_any()
            }
            None => event_type,
        };
        let fields = [
            envelope.getattr(intern!(py, "event_id"))?,
            event_type,
            time_ms.into_py(py).into_bound(py),
            envelope.getattr(intern!(py, "user_id"))?,
            envelope.getattr(intern!(py, "session_id"))?,
            attrs.into_any(),
        ];
        Ok(Some(new_tuple_of(self.event_class.bind(py), fields)?))
    }
}

fn accepts(check: &Check, value: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(match check {
        Check::Text => value.is_exact_instance_of::<PyString>() && value.len()? > 0,
        Check::Choice(choices) => match value.downcast_exact::<PyString>() {
            Ok(text) => text
                .to_str()
                .is_ok_and(|text| choices.iter().any(|choice| choice == text)),
            Err(_) => false,
        },
        Check::Number(minimum) => {
            let number =
                value.is_exact_instance_of::<PyInt>() || value.is_exact_instance_of::<PyFloat>();
            match minimum {
                Some(minimum) if number => value.ge(minimum)?,
                _ => number,
            }
        }
        Check::Python(acceptor) => acceptor.bind(value.py()).call1((value,))?.is_truthy()?,
    })
}
