//! Texts the core looks up often (record keys, event ids), each with its hash carried.

use ahash::RandomState;
use hashbrown::Equivalent;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

/// A text with its hash taken once and carried beside it: a record's key ("detector/state
/// key", `Skey`) or an event's id (`EventId`). The core looks a key's record up several times
/// per event and checks each applied event's id against the key's seen ids; neither hashing the
/// text again nor reading it (most of a lookup's time is waiting for memory, and a key's seen
/// ids were read long before) is needed to tell two apart. Texts are equal when they are the
/// same text, often the same allocation; they order by their text, as engine.py's agenda
/// orders keys and its pending events order ids.
#[derive(Clone)]
pub(crate) struct Hashed {
    hash: u64,
    text: Rc<str>,
}

pub(crate) type Skey = Hashed;
pub(crate) type EventId = Hashed;

impl Hashed {
    pub(crate) fn new(hashing: &RandomState, text: &str) -> Self {
        Hashed {
            hash: hashing.hash_one(text),
            text: Rc::from(text),
        }
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }
}

impl Hash for Hashed {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for Hashed {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && (Rc::ptr_eq(&self.text, &other.text) || self.text == other.text)
    }
}

impl Eq for Hashed {}

impl PartialOrd for Hashed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Hashed {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text.cmp(&other.text)
    }
}

/// A text and its hash, borrowed: finds a `Hashed` in a map without making one (its copy of the
/// text) first, as a lookup of a key that is already known needs none.
pub(crate) struct HashedText<'a> {
    hash: u64,
    text: &'a str,
}

impl<'a> HashedText<'a> {
    pub(crate) fn new(hashing: &RandomState, text: &'a str) -> Self {
        HashedText {
            hash: hashing.hash_one(text),
            text,
        }
    }
}

impl Hash for HashedText<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Equivalent<Hashed> for HashedText<'_> {
    fn equivalent(&self, key: &Hashed) -> bool {
        self.hash == key.hash && *key.text == *self.text
    }
}

/// Hashes a `Hashed` by the hash it carries (already ahash's, so well mixed).
#[derive(Default)]
pub(crate) struct CarriedHash(u64);

impl Hasher for CarriedHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, _: &[u8]) {
        unreachable!("a Hashed writes its hash as a u64");
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
}
