//! Stage 1's routed items, made by the core: for each (detector, key) an event goes to, the
//! routed partition of its state key (Kafka's murmur2, partition.rs) and the item's bytes, the
//! JSON array `encode_item` writes (streams/worker/routing.py), byte for byte. The worker makes
//! one or two items per input event; in Python each took a state key built, encoded, hashed
//! and the event's fields put in a list for orjson.

use crate::engine::SEPARATOR;
use crate::partition::partition_of;
use crate::serialized::{write_str, write_value};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

/// `[(routed partition, item bytes)]` for `routes` (engine.py's `routes(event)`: (detector, key)
/// pairs) among `partitions`; `dumps` (orjson's) writes the attribute values the core does not
/// write itself. A key that is not text raises TypeError, as `store_key` would.
#[pyfunction]
pub fn routed_items<'py>(
    py: Python<'py>,
    event: &Bound<'py, PyTuple>,
    routes: &Bound<'py, PyList>,
    partitions: u32,
    dumps: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let items = PyList::empty_bound(py);
    if routes.is_empty() {
        return Ok(items);
    }
    // The event's fields after the route's own: time, id, type, user, session, attributes.
    let mut fields = Vec::with_capacity(256);
    for index in [2, 0, 1, 3, 4, 5] {
        fields.push(b',');
        write_value(&event.get_item(index)?, dumps, &mut fields)?;
    }
    let mut skey = String::with_capacity(64);
    let mut item = Vec::with_capacity(fields.len() + 64);
    for route in routes.iter() {
        let route = route.downcast_into::<PyTuple>()?;
        let name_object = route.get_item(0)?.getattr("name")?;
        let name = name_object.downcast::<PyString>()?.to_str()?;
        let key_object = route.get_item(1)?;
        let key = key_object
            .downcast::<PyString>()
            .map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(format!(
                    "detector {name:?} gave a key that is not text"
                ))
            })?
            .to_str()?;
        skey.clear();
        skey.push_str(name);
        skey.push_str(SEPARATOR);
        skey.push_str(key);
        let partition = partition_of(skey.as_bytes(), partitions)?;
        item.clear();
        item.push(b'[');
        write_str(name, &mut item);
        item.push(b',');
        write_str(key, &mut item);
        item.extend_from_slice(&fields);
        item.push(b']');
        items.append((partition, PyBytes::new_bound(py, &item)))?;
    }
    Ok(items)
}
