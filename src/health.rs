//! The runs' health, pool-wide: how many performs failed, how many in a row since the last
//! success anywhere in the pool, and when a perform last succeeded. For a cron-like job that is
//! its health, more than whether its workers live.
//!
//! The workers write it in memory shared with the master (the master reads it): the pool's
//! counts in one record, touched only by a failure or by the first success after failures; and
//! each slot's last success and last failure in a record of its own, so that workers that keep
//! succeeding never write to a line another worker writes. A success costs one coarse clock read
//! (no system call) and one store.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::time::Duration;

use crate::sys::{self, Shared, Zeroed};
use crate::table::Note;

/// The pool's counts.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct Pool {
    failed: AtomicU64,
    in_a_row: AtomicU64,
    /// The slot whose failure came last.
    last: AtomicU32,
}

/// One slot's.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct Slot {
    /// `sys::now_coarse()` in ns at the end of its last successful perform, or 0.
    last_success: AtomicU64,
    /// What its last failed perform did: `exited with code 1`, `failed: no such table`.
    failure: Note<1000>,
}

// SAFETY: both are atomics only, valid when zeroed, and hold no pointers.
unsafe impl Zeroed for Pool {}
// SAFETY: as above.
unsafe impl Zeroed for Slot {}

/// The runs' health, as the master reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Runs {
    /// Failed performs so far.
    pub failed: u64,
    /// Failed performs since the last success anywhere in the pool.
    pub in_a_row: u64,
    /// When a perform last succeeded (`sys::now` time), if one did.
    pub last_success: Option<Duration>,
}

/// The shared records: the pool's, and one per slot.
#[derive(Debug)]
pub struct Health {
    pool: Shared<Pool>,
    slots: Shared<Slot>,
}

impl Health {
    /// Maps the records for `slots` slots.
    ///
    /// # Errors
    /// When the system refuses the mapping.
    pub fn new(slots: usize) -> io::Result<Health> {
        Ok(Health { pool: Shared::new(1)?, slots: Shared::new(slots)? })
    }

    /// In a worker: slot `slot`'s perform succeeded. True when it ends failures in a row.
    pub fn succeeded(&self, slot: usize) -> bool {
        self.slots.get(slot).last_success.store(sys::now_coarse().as_nanos() as u64, Relaxed);
        let pool = self.pool.get(0);
        pool.in_a_row.load(Relaxed) != 0 && pool.in_a_row.swap(0, SeqCst) != 0
    }

    /// Slot `slot`'s perform failed, as `what` says: counted by its worker, or by the master
    /// for a simple perform it killed at its timeout. Returns the failures in a row, this one
    /// included. (The total is kept for the run state a later issue writes out.)
    pub fn failed(&self, slot: usize, what: &str) -> u64 {
        self.note(slot, what);
        let pool = self.pool.get(0);
        pool.last.store(slot as u32, SeqCst);
        pool.failed.fetch_add(1, SeqCst);
        pool.in_a_row.fetch_add(1, SeqCst) + 1
    }

    /// In the master, as `run` begins: no failure counted yet.
    pub fn reset(&self) {
        let pool = self.pool.get(0);
        pool.failed.store(0, SeqCst);
        pool.in_a_row.store(0, SeqCst);
    }

    /// Failed performs since the last success anywhere in the pool.
    pub fn in_a_row(&self) -> u64 {
        self.pool.get(0).in_a_row.load(Relaxed)
    }

    /// In the master: the runs' health, over slots `0..slots`.
    pub fn runs(&self, slots: usize) -> Runs {
        let pool = self.pool.get(0);
        let ns = (0..slots).map(|i| self.slots.get(i).last_success.load(Relaxed)).max().unwrap_or(0);
        let (failed, in_a_row) = (pool.failed.load(SeqCst), pool.in_a_row.load(SeqCst));
        Runs { failed, in_a_row, last_success: (ns != 0).then(|| Duration::from_nanos(ns)) }
    }

    /// Notes what slot `slot`'s failed perform was, without counting it (a perform child's
    /// note, which its worker counts).
    pub fn note(&self, slot: usize, what: &str) {
        self.slots.get(slot).failure.write(what);
    }

    /// What slot `slot`'s last failed perform was.
    pub fn failure(&self, slot: usize) -> String {
        self.slots.get(slot).failure.read()
    }

    /// The last failed perform: `worker 1: exited with code 1`.
    pub fn last_failure(&self) -> String {
        let last = self.pool.get(0).last.load(SeqCst) as usize;
        format!("worker {last}: {}", self.failure(last))
    }
}

/// Performs failing, for `STATUS=`: how many in a row, and how long ago (in whole seconds) the
/// last success was, if there was one. Shown as `last success 12 s ago, 37 failed in a row`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Failing {
    pub in_a_row: u64,
    pub ago: Option<u64>,
}

impl Runs {
    /// Whether performs fail at `now`, and since when.
    pub fn failing(&self, now: Duration) -> Option<Failing> {
        let ago = self.last_success.map(|t| now.saturating_sub(t).as_secs());
        (self.in_a_row > 0).then_some(Failing { in_a_row: self.in_a_row, ago })
    }
}

impl fmt::Display for Failing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ago {
            Some(ago) => write!(f, "last success {ago} s ago, ")?,
            None => f.write_str("no success yet, ")?,
        }
        write!(f, "{} failed in a row", self.in_a_row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_in_a_row_across_slots_until_any_success() {
        let health = Health::new(4).unwrap();
        assert_eq!(health.runs(4), Runs::default());
        assert_eq!(health.failed(1, "exited with code 1"), 1);
        assert_eq!(health.failed(3, "failed: no table"), 2);
        assert_eq!(health.last_failure(), "worker 3: failed: no table");
        assert!(health.succeeded(0), "the first success after failures is news");
        assert!(!health.succeeded(2), "the next is not");
        let runs = health.runs(4);
        assert_eq!((runs.failed, runs.in_a_row, health.in_a_row()), (2, 0, 0));
        let at = runs.last_success.expect("a success");
        assert!(at <= sys::now() && sys::now() - at < Duration::from_secs(5), "{at:?}");
        assert_eq!(health.failed(2, "é".repeat(600).as_str()), 1);
        assert_eq!(health.last_failure().chars().count(), "worker 2: ".len() + 500, "cut to 1,000 bytes");
    }

    #[test]
    fn the_status_part_reads_as_a_person_writes_it() {
        let failing = |in_a_row, ago| Failing { in_a_row, ago }.to_string();
        assert_eq!(failing(37, Some(12)), "last success 12 s ago, 37 failed in a row");
        assert_eq!(failing(1, None), "no success yet, 1 failed in a row");
        let runs = Runs { failed: 3, in_a_row: 0, last_success: None };
        assert_eq!(runs.failing(Duration::from_secs(9)), None);
    }
}
