//! Stage 1's routed messages read in the core (the worker's stage 2): `{"items": [...],
//! "progress": {...}}`, each item `[detector, key, time, id, type, user, session, attributes]`
//! as streams/worker/routing.py's `encode_item` (and routed.rs) write it, its detector one name
//! or a list of the names that take the event with the same key (engine.py's `take_message`).
//!
//! Read with orjson, every item became Python objects (a list, its texts, its attributes) at
//! once, and stayed so while it waited for the watermark: in the worker that read, and the
//! events' reading again when applied, cost more than detection itself. Here only the fields
//! the engine needs to queue an item are read (its detector, key, time and id); the item's event
//! fields wait in its record as bytes (`Waiting::routed`), and its Event is made from them when a
//! detector or a record needs it, with the same `loads` the worker read items with, so it is the
//! same Event.

use crate::calls::new_tuple_of;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyType};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// How far, in event time, stage 1 has read each input source.
pub(crate) type Progress = BTreeMap<String, i64>;

/// A routed message: its items' bytes, unread, and how far stage 1 has read each input source.
#[derive(Deserialize)]
pub(crate) struct RoutedMessage<'a> {
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    progress: Option<Progress>,
}

/// An item's fields as the engine reads them to queue it: its detector, key, time (as
/// written, read as a number on its own) and event id; the rest wait in its bytes.
#[derive(Deserialize)]
struct ItemFields<'a>(
    #[serde(borrow)] Names<'a>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] &'a RawValue,
    #[serde(borrow)] Cow<'a, str>,
    Readable,
    Readable,
    Readable,
    Readable,
);

/// A JSON value read through and dropped, refused where `loads` would refuse it when its Event is
/// made: a string with a lone surrogate escape, a number beyond a double's range. Checked as
/// the item is taken, so making its Event later cannot fail (serde's `IgnoredAny` lets both by).
struct Readable;

impl<'de> Deserialize<'de> for Readable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ReadableVisitor)
    }
}

struct ReadableVisitor;

impl<'de> Visitor<'de> for ReadableVisitor {
    type Value = Readable;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Readable, A::Error> {
        while seq.next_element::<Readable>()?.is_some() {}
        Ok(Readable)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Readable, A::Error> {
        while map.next_entry::<Readable, Readable>()?.is_some() {}
        Ok(Readable)
    }
}

/// An item's detectors: one name, or a list of one or more names, each once.
pub(crate) struct Names<'a>(pub(crate) SmallVec<[Cow<'a, str>; 2]>);

impl<'de: 'a, 'a> Deserialize<'de> for Names<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NamesVisitor(std::marker::PhantomData))
    }
}

struct NamesVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for NamesVisitor<'a> {
    type Value = Names<'a>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a detector's name or a list of one or more, each once")
    }

    fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Names<'a>, E> {
        Ok(Names(SmallVec::from_elem(Cow::Borrowed(name), 1)))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Names<'a>, E> {
        Ok(Names(SmallVec::from_elem(Cow::Owned(name.to_owned()), 1)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Names<'a>, A::Error> {
        let mut names: SmallVec<[Cow<'a, str>; 2]> = SmallVec::new();
        while let Some(Name(name)) = seq.next_element::<Name<'a>>()? {
            if names.contains(&name) {
                return Err(de::Error::custom(format!("detector {name:?} named twice")));
            }
            names.push(name);
        }
        if names.is_empty() {
            return Err(de::Error::invalid_length(0, &self));
        }
        Ok(Names(names))
    }
}

/// One name of a list, borrowed from the message unless it has escapes (serde's own `Cow`
/// would copy every one).
struct Name<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Name<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_str(NamesVisitor(std::marker::PhantomData))
            .and_then(|Names(mut names)| match names.pop() {
                Some(name) if names.is_empty() => Ok(Name(name)),
                _ => Err(de::Error::custom("a detector's name is text")),
            })
    }
}

/// A routed item read to be queued: its detector, key, time and event id, and its event's
/// fields as written (`time, id, type, user, session, attributes]`, the item's bytes from its
/// time on), from which `EventMaker` makes its Event.
pub(crate) struct ItemHead<'a> {
    pub(crate) detectors: Names<'a>,
    pub(crate) key: Cow<'a, str>,
    pub(crate) time: i64,
    pub(crate) id: Cow<'a, str>,
    pub(crate) event: &'a [u8],
}

/// The deepest a routed message is read: an item holds the deepest event the decoder accepts
/// (its `max_depth` ceiling, 128 levels, the event object being one) two levels below the
/// message's own, with room to spare. serde_json's own limit, 128 levels, is below that.
const MAX_MESSAGE_DEPTH: usize = 160;

/// A routed message's items (each item's head and bytes) and progress; an error, before any item
/// is taken, if the message or one of its items is not as stage 1 writes them.
pub(crate) fn read_message(raw: &[u8]) -> PyResult<(Vec<ItemHead<'_>>, Progress)> {
    let refused =
        |why: &dyn fmt::Display| PyValueError::new_err(format!("not a routed message: {why}"));
    let text = std::str::from_utf8(raw).map_err(|error| refused(&error))?;
    if !text.trim_start().starts_with('{') {
        return Err(refused(&"not a JSON object"));
    }
    let message: RoutedMessage<'_> = from_json(text).map_err(|error| refused(&error))?;
    let items = message.items.unwrap_or_default();
    items
        .into_iter()
        .map(read_item)
        .collect::<PyResult<_>>()
        .map(|items| (items, message.progress.unwrap_or_default()))
}

fn read_item(item: &RawValue) -> PyResult<ItemHead<'_>> {
    let refused = |error: serde_json::Error| {
        PyValueError::new_err(format!(
            "a routed item is [detector or [detectors], key, time, id, type, user, session, \
             attributes] with a whole number of ms for its time: {error}"
        ))
    };
    let text = item.get();
    let ItemFields(detectors, key, time, id, ..) = from_json(text).map_err(refused)?;
    // The time's text lies within the item's: the event's fields start there.
    let start = time.get().as_ptr() as usize - text.as_ptr() as usize;
    Ok(ItemHead {
        detectors,
        key,
        time: serde_json::from_str(time.get()).map_err(refused)?,
        id,
        event: &text.as_bytes()[start..],
    })
}

/// `serde_json::from_str`, and past serde_json's limit of 128 levels for a text no deeper than
/// `MAX_MESSAGE_DEPTH` (`depth_of`): a foreign message cannot make the reader recurse without
/// bound, and the deepest event the decoder accepts is read.
fn from_json<'a, T: Deserialize<'a>>(text: &'a str) -> serde_json::Result<T> {
    match serde_json::from_str(text) {
        Err(error)
            if error.to_string().starts_with("recursion limit exceeded")
                && depth_of(text.as_bytes()) <= MAX_MESSAGE_DEPTH =>
        {
            let mut reader = serde_json::Deserializer::from_str(text);
            reader.disable_recursion_limit();
            let value = T::deserialize(&mut reader)?;
            reader.end()?;
            Ok(value)
        }
        read => read,
    }
}

/// The deepest nesting of arrays and objects in a JSON text (brackets in strings not counted).
fn depth_of(text: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in text {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// How a routed item's bytes are made the Event detectors get: the Event class and the JSON
/// reader the worker read whole messages with before.
pub(crate) struct EventMaker {
    pub(crate) class: Py<PyType>,
    pub(crate) loads: PyObject,
}

impl EventMaker {
    /// The Event of a routed item's event fields (`ItemHead.event` as `fields`):
    /// Event(id, type, time, user, session, attributes).
    pub(crate) fn make(&self, py: Python<'_>, fields: &Bound<'_, PyBytes>) -> PyResult<PyObject> {
        let fields = self.loads.call1(py, (fields,))?;
        let fields = fields.bind(py).downcast::<PyList>()?;
        new_tuple_of(
            self.class.bind(py),
            [
                fields.get_item(1)?,
                fields.get_item(2)?,
                fields.get_item(0)?,
                fields.get_item(3)?,
                fields.get_item(4)?,
                fields.get_item(5)?,
            ],
        )
    }
}

/// A routed item's event fields as their own JSON array (`[time, id, type, user, session,
/// attributes]`), as a record waits with them (`Waiting::routed`).
pub(crate) fn event_fields<'py>(py: Python<'py>, event: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    PyBytes::new_bound_with(py, event.len() + 1, |bytes| {
        bytes[0] = b'[';
        bytes[1..].copy_from_slice(event);
        Ok(())
    })
}
