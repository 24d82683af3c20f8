//! timefmt.py's `parse_time` for the usual case, compiled: an event's time as epoch
//! milliseconds when it is an integer in range or a UTC stamp with milliseconds
//! (`2026-11-22T10:15:03.120Z`), the form live streams carry. Anything else is left to the
//! Python parser (None), which accepts every RFC 3339 form and says what is wrong with the rest,
//! so this path only has to agree with it on what it answers.

use pyo3::prelude::*;
use pyo3::types::{PyInt, PyString};

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: the times findings can carry back out.
const MIN_MS: i64 = -62_135_596_800_000;
const MAX_MS: i64 = 253_402_300_799_999;

/// `value` as epoch milliseconds when it is an int within the calendar or a valid
/// `YYYY-MM-DDTHH:MM:SS.mmmZ` stamp (`T`, `t` or a space between date and time); None when
/// timefmt.py's `parse_time` must judge it (other forms, bad values, other types).
#[pyfunction]
pub fn usual_time(value: &Bound<'_, PyAny>) -> Option<i64> {
    if let Ok(text) = value.downcast_exact::<PyString>() {
        return text.to_str().ok().and_then(stamp_ms);
    }
    if value.is_exact_instance_of::<PyInt>() {
        let ms: i64 = value.extract().ok()?;
        return (MIN_MS..=MAX_MS).contains(&ms).then_some(ms);
    }
    None
}

fn stamp_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 24
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[23] != b'Z'
    {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    let millis = digits(&b[20..23])?;
    if year < 1
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

/// The number the ASCII digits spell; None if any byte is not one.
fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0i64, |n, &byte| {
        byte.is_ascii_digit()
            .then(|| n * 10 + i64::from(byte - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`), as Python's datetime counts them.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
