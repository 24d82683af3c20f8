//! Stage 1's routed items, made by the core: one item per (key space, key) an event goes to,
//! naming the detectors that take it with that key (one name, or a list: detectors without a
//! key space each have their own), at the routed partition of `<key space or name>/<key>`
//! (Kafka's murmur2, partition.rs), its bytes the JSON array `encode_item` writes
//! (streams/worker/routing.py), byte for byte. In Python each item took a state key built,
//! encoded, hashed and the event's fields put in a list for orjson. `CompiledEngine.
//! routed_items` asks each detector for its key (engine.py's `routes`) and adds the items here,
//! so stage 1 makes no route list either.

use crate::engine::SEPARATOR;
use crate::partition::partition_of;
use crate::serialized::{write_str, write_value};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

/// The items of one event, added a route at a time: the event's fields are written once.
pub(crate) struct RoutedItems<'a, 'py> {
    items: Bound<'py, PyList>,
    event: &'a Bound<'py, PyTuple>,
    dumps: &'a Bound<'py, PyAny>,
    partitions: u32,
    /// The event's fields after the route's own (time, id, type, user, session, attributes),
    /// written at the first route.
    fields: Vec<u8>,
    skey: String,
    item: Vec<u8>,
}

impl<'a, 'py> RoutedItems<'a, 'py> {
    pub(crate) fn new(
        event: &'a Bound<'py, PyTuple>,
        partitions: u32,
        dumps: &'a Bound<'py, PyAny>,
    ) -> Self {
        RoutedItems {
            items: PyList::empty_bound(event.py()),
            event,
            dumps,
            partitions,
            fields: Vec::new(),
            skey: String::new(),
            item: Vec::new(),
        }
    }

    /// The item of detectors `names`, which take the event with the same `key`: at the routed
    /// partition of `routed_by` (their key space, or the one detector's name) and the key.
    pub(crate) fn add(&mut self, names: &[&str], routed_by: &str, key: &str) -> PyResult<()> {
        if self.fields.is_empty() {
            self.fields.reserve(256);
            for index in [2, 0, 1, 3, 4, 5] {
                self.fields.push(b',');
                write_value(&self.event.get_item(index)?, self.dumps, &mut self.fields)?;
            }
        }
        let skey = &mut self.skey;
        skey.clear();
        skey.push_str(routed_by);
        skey.push_str(SEPARATOR);
        skey.push_str(key);
        let partition = partition_of(skey.as_bytes(), self.partitions)?;
        let item = &mut self.item;
        item.clear();
        item.push(b'[');
        if let [name] = names {
            write_str(name, item);
        } else {
            item.push(b'[');
            for (position, name) in names.iter().enumerate() {
                if position > 0 {
                    item.push(b',');
                }
                write_str(name, item);
            }
            item.push(b']');
        }
        item.push(b',');
        write_str(key, item);
        item.extend_from_slice(&self.fields);
        item.push(b']');
        let py = self.items.py();
        self.items.append((partition, PyBytes::new_bound(py, item)))
    }

    pub(crate) fn done(self) -> Bound<'py, PyList> {
        self.items
    }
}

/// A detector's key as text; a key that is not text raises TypeError.
pub(crate) fn key_text<'a>(name: &str, key: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    key.downcast::<PyString>()
        .map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "detector {name:?} gave a key that is not text"
            ))
        })?
        .to_str()
}
