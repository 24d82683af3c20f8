//! The FIFO of arrivals (engine.py's), with its earliest time at hand.

use crate::records::RecordRef;
use std::collections::VecDeque;

/// The records of events as they arrived, in arrival order (engine.py's FIFO), with the earliest
/// event time among them kept at hand: replay asks for it (the settled time) every few thousand
/// events, and a scan of a hundred thousand arrivals read them all from memory each time.
#[derive(Default)]
pub(crate) struct Arrivals {
    queue: VecDeque<(i64, RecordRef)>,
    /// (time, arrival number) of the arrivals no later one undercuts, earliest first.
    minima: VecDeque<(i64, u64)>,
    pushed: u64,
    popped: u64,
}

impl Arrivals {
    pub(crate) fn push_back(&mut self, time: i64, record: RecordRef) {
        while self.minima.back().is_some_and(|(at, _)| *at > time) {
            self.minima.pop_back();
        }
        self.minima.push_back((time, self.pushed));
        self.pushed += 1;
        self.queue.push_back((time, record));
    }

    pub(crate) fn pop_front(&mut self) -> Option<(i64, RecordRef)> {
        let arrival = self.queue.pop_front()?;
        if self
            .minima
            .front()
            .is_some_and(|(_, number)| *number == self.popped)
        {
            self.minima.pop_front();
        }
        self.popped += 1;
        Some(arrival)
    }

    pub(crate) fn front_time(&self) -> Option<i64> {
        self.queue.front().map(|(time, _)| *time)
    }

    pub(crate) fn back_time(&self) -> Option<i64> {
        self.queue.back().map(|(time, _)| *time)
    }

    pub(crate) fn earliest(&self) -> Option<i64> {
        self.minima.front().map(|(time, _)| *time)
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}
