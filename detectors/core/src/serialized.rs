//! A key's record serialized as the worker's changelog writes it: the JSON bytes that
//! `dumps(plain_record(record))` would give, byte for byte, written straight from the Rust
//! values. Giving a batch's changed records out as Python dicts and serializing those cost more
//! than the detection that changed them. A detector's state and an event's attributes are
//! Python values of no fixed shape: text, numbers, booleans, None, dicts and lists of them are
//! written here, anything else (a float, a time) by `dumps`, the serializer itself.
//!
//! The text rules are orjson's (what Faust's "json" codec is): compact, non-ASCII as UTF-8, and
//! `"`, `\`, and control characters escaped, the usual ones by letter.

use crate::record::{made, Record};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyLong, PyString, PyTuple};

/// Append `record` as JSON to `out`, with its waiting events up to `kept_until` (the engine's);
/// `dumps` serializes the Python values of no fixed shape.
pub(crate) fn write_record(
    py: Python<'_>,
    record: &Record,
    dumps: &Bound<'_, PyAny>,
    out: &mut Vec<u8>,
    kept_until: i64,
) -> PyResult<()> {
    out.extend_from_slice(b"{\"s\":");
    write_value(record.state.bind(py).as_any(), dumps, out)?;
    out.extend_from_slice(b",\"p\":[");
    let kept = record.pending.iter().filter(|w| w.time <= kept_until);
    for (n, waiting) in kept.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        match &waiting.written {
            Some(written) => out.extend_from_slice(written.bind(py).as_bytes()),
            None => write_array(
                made(py, &waiting.event)?
                    .bind(py)
                    .downcast::<PyTuple>()?
                    .iter(),
                dumps,
                out,
            )?,
        }
    }
    out.extend_from_slice(b"],\"t\":{");
    for (n, (tag, at)) in record.timers.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_str(tag, out);
        out.push(b':');
        write_int(*at, out);
    }
    out.extend_from_slice(b"},\"d\":{");
    for (n, applied) in record.seen.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_str(applied.id.text(), out);
        out.push(b':');
        write_int(applied.time, out);
    }
    out.extend_from_slice(b"},\"x\":");
    write_int(record.expiry, out);
    if !record.outcomes.is_empty() {
        out.extend_from_slice(b",\"o\":[");
        for (n, open) in record.outcomes.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            let fields = [
                open.finding_id.bind(py).clone(),
                open.kind.bind(py).clone(),
                open.found.into_py(py).into_bound(py),
                open.deadline.into_py(py).into_bound(py),
                open.segment.bind(py).clone(),
            ];
            write_array(fields.into_iter(), dumps, out)?;
        }
        out.push(b']');
    }
    if let Some(journey) = &record.journey {
        out.extend_from_slice(b",\"j\":[");
        write_int(journey.start, out);
        out.push(b',');
        write_int(journey.deadline, out);
        out.push(b',');
        match &journey.segment {
            Some(segment) => write_value(segment.bind(py), dumps, out)?,
            None => out.extend_from_slice(b"null"),
        }
        out.push(b']');
    }
    out.push(b'}');
    Ok(())
}

fn write_array<'py>(
    values: impl Iterator<Item = Bound<'py, PyAny>>,
    dumps: &Bound<'_, PyAny>,
    out: &mut Vec<u8>,
) -> PyResult<()> {
    write_list(values, Fallback::Dumps(dumps), out, 0).map(|_| ())
}

/// A JSON array of `values`; false if one needed a serializer and `fallback` refused it.
fn write_list<'py>(
    values: impl Iterator<Item = Bound<'py, PyAny>>,
    fallback: Fallback<'_, '_>,
    out: &mut Vec<u8>,
    depth: u32,
) -> PyResult<bool> {
    out.push(b'[');
    for (n, value) in values.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        if !write_nested(&value, fallback, out, depth)? {
            return Ok(false);
        }
    }
    out.push(b']');
    Ok(true)
}

/// How deep `write_value` follows dicts and lists itself before handing a value to `dumps`
/// (orjson refuses past 255 levels, and says so).
const OWN_DEPTH: u32 = 32;

/// What writes a value the core does not write itself: the changelog's serializer, or nobody
/// (`event_bytes`, which then leaves the event to be written with its record).
#[derive(Clone, Copy)]
enum Fallback<'a, 'py> {
    Dumps(&'a Bound<'py, PyAny>),
    Refuse,
}

/// Text, whole numbers, booleans, None, and dicts (with text keys) and lists of those directly
/// (a detector's state and an event's fields are mostly these); anything else, a float for one,
/// through `dumps`.
pub(crate) fn write_value(
    value: &Bound<'_, PyAny>,
    dumps: &Bound<'_, PyAny>,
    out: &mut Vec<u8>,
) -> PyResult<()> {
    write_nested(value, Fallback::Dumps(dumps), out, 0).map(|_| ())
}

/// A waiting event as its record writes it (`[id, type, time, user, session, attributes]`),
/// or None if a value of it needs the changelog's serializer.
pub(crate) fn event_bytes(event: &Bound<'_, PyTuple>) -> PyResult<Option<Py<PyBytes>>> {
    let mut out = Vec::with_capacity(160);
    if !write_list(event.iter(), Fallback::Refuse, &mut out, 0)? {
        return Ok(None);
    }
    Ok(Some(PyBytes::new_bound(event.py(), &out).unbind()))
}

/// `write_value`'s walk; false if a value needed a serializer and `fallback` refused it.
fn write_nested(
    value: &Bound<'_, PyAny>,
    fallback: Fallback<'_, '_>,
    out: &mut Vec<u8>,
    depth: u32,
) -> PyResult<bool> {
    if let Ok(text) = value.downcast_exact::<PyString>() {
        write_str(text.to_str()?, out);
    } else if value.is_none() {
        out.extend_from_slice(b"null");
    } else if let Ok(flag) = value.downcast_exact::<PyBool>() {
        out.extend_from_slice(if flag.is_true() { b"true" } else { b"false" });
    } else if value.is_exact_instance_of::<PyLong>() {
        match value.extract::<i64>() {
            Ok(number) => write_int(number, out),
            Err(_) => return write_dumped(value, fallback, out), // beyond 64 bits: orjson's rule
        }
    } else if depth >= OWN_DEPTH {
        return write_dumped(value, fallback, out);
    } else if let Ok(dict) = value.downcast_exact::<PyDict>() {
        let start = out.len();
        out.push(b'{');
        for (n, (key, item)) in dict.iter().enumerate() {
            let Ok(key) = key.downcast_exact::<PyString>() else {
                out.truncate(start); // a key that is not text: the serializer's own rule
                return write_dumped(value, fallback, out);
            };
            if n > 0 {
                out.push(b',');
            }
            write_str(key.to_str()?, out);
            out.push(b':');
            if !write_nested(&item, fallback, out, depth + 1)? {
                return Ok(false);
            }
        }
        out.push(b'}');
    } else if let Ok(list) = value.downcast_exact::<PyList>() {
        return write_list(list.iter(), fallback, out, depth + 1);
    } else {
        return write_dumped(value, fallback, out);
    }
    Ok(true)
}

fn write_dumped(
    value: &Bound<'_, PyAny>,
    fallback: Fallback<'_, '_>,
    out: &mut Vec<u8>,
) -> PyResult<bool> {
    let Fallback::Dumps(dumps) = fallback else {
        return Ok(false);
    };
    let dumped = dumps.call1((value,))?;
    out.extend_from_slice(dumped.downcast::<PyBytes>()?.as_bytes());
    Ok(true)
}

/// A whole number in decimal, with no allocation (record times are written several times a
/// record).
fn write_int(number: i64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = number.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if number < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A JSON string as orjson writes it.
pub(crate) fn write_str(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        let escaped: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..at]);
        if escaped.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.extend_from_slice(escaped);
        }
        start = at + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}
