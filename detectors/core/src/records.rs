//! Every key's record, in slots: a key is looked up by its text once per event it reads, and an
//! arrival reaches its record by slot, with no lookup by text, when the watermark passes it.

use crate::hashed::{CarriedHash, Skey};
use crate::record::Record;
use hashbrown::{Equivalent, HashMap};
use std::hash::{BuildHasherDefault, Hash};

/// A record's place among the records.
pub(crate) type Slot = u32;

/// Records per page: pages are never moved, so the records never are once made (a growing
/// vector of a hundred thousand records would copy them all, and read them, at each doubling).
const PAGE_BITS: u32 = 10;
const PAGE: usize = 1 << PAGE_BITS;

/// What a queued arrival keeps of its record: the slot, and the record's birth number, which
/// tells whether the slot still holds that record or was given to another key since.
#[derive(Clone, Copy)]
pub(crate) struct RecordRef {
    pub(crate) slot: Slot,
    pub(crate) born: u64,
}

/// The records by slot, with an index from key to slot.
///
/// A queued arrival reaches its record by slot: at the watermark an event was read ~70k events
/// before, so a lookup by text waits for memory at each of its steps (the index's control bytes,
/// its entry, the record), where a slot is one step. An arrival must still find what engine.py
/// finds by its key: a record forgotten with arrivals queued leaves its key behind
/// (`forgotten`), and those arrivals look their key up as engine.py does.
#[derive(Default)]
pub(crate) struct Records {
    index: HashMap<Skey, Slot, BuildHasherDefault<CarriedHash>>,
    pages: Vec<Vec<Option<Record>>>,
    free: Vec<Slot>,
    /// A forgotten record's key and how many of its arrivals are still queued, by birth number.
    forgotten: std::collections::HashMap<u64, (Skey, u32)>,
}

impl Records {
    /// The slot of a key's record: `skey` is a `Skey`, or a `HashedText` of one.
    pub(crate) fn find<K: Hash + Equivalent<Skey> + ?Sized>(&self, skey: &K) -> Option<Slot> {
        self.index.get(skey).copied()
    }

    pub(crate) fn get(&self, slot: Slot) -> Option<&Record> {
        self.place(slot).as_ref()
    }

    pub(crate) fn get_mut(&mut self, slot: Slot) -> Option<&mut Record> {
        self.place_mut(slot).as_mut()
    }

    fn place(&self, slot: Slot) -> &Option<Record> {
        &self.pages[(slot >> PAGE_BITS) as usize][slot as usize & (PAGE - 1)]
    }

    fn place_mut(&mut self, slot: Slot) -> &mut Option<Record> {
        &mut self.pages[(slot >> PAGE_BITS) as usize][slot as usize & (PAGE - 1)]
    }

    /// The record in a slot the caller knows is held.
    pub(crate) fn held(&mut self, slot: Slot) -> &mut Record {
        self.get_mut(slot).expect("the caller holds it")
    }

    pub(crate) fn insert(&mut self, record: Record) -> Slot {
        let key = record.key.clone();
        let slot = match self.free.pop() {
            Some(slot) => {
                *self.place_mut(slot) = Some(record);
                slot
            }
            None => {
                if !matches!(self.pages.last(), Some(page) if page.len() < PAGE) {
                    self.pages.push(Vec::with_capacity(PAGE));
                }
                let page = self.pages.len() - 1;
                self.pages[page].push(Some(record));
                Slot::try_from(page * PAGE + self.pages[page].len() - 1)
                    .expect("fewer than 2^32 records")
            }
        };
        self.index.insert(key, slot);
        slot
    }

    pub(crate) fn remove(&mut self, slot: Slot) {
        let record = self.place_mut(slot).take().expect("the caller holds it");
        self.index.remove(&record.key);
        self.free.push(slot);
        if record.queued > 0 {
            self.forgotten
                .insert(record.born, (record.key, record.queued));
        }
    }

    /// Queue an arrival for the record in `slot`.
    pub(crate) fn queue(&mut self, slot: Slot) -> RecordRef {
        let record = self.held(slot);
        record.queued += 1;
        RecordRef {
            slot,
            born: record.born,
        }
    }

    /// The slot an arrival leaving the queue reaches: its own record's, or, if that record was
    /// forgotten, whichever record its key has now (engine.py's lookup by key).
    pub(crate) fn arrived(&mut self, arrival: RecordRef) -> Option<Slot> {
        if let Some(record) = self.get_mut(arrival.slot) {
            if record.born == arrival.born {
                record.queued -= 1;
                return Some(arrival.slot);
            }
        }
        let (skey, left) = self
            .forgotten
            .get_mut(&arrival.born)
            .expect("a forgotten record with queued arrivals leaves its key");
        *left -= 1;
        let slot = self.index.get(skey).copied();
        if *left == 0 {
            self.forgotten.remove(&arrival.born);
        }
        slot
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (Slot, &Record)> {
        self.pages
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(slot, record)| record.as_ref().map(|record| (slot as Slot, record)))
    }
}
