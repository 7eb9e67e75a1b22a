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
    /// Its performs by how they ended (`Ended` - 1), kept across the workers of the slot.
    counts: [AtomicU64; 4],
    /// Its failed performs since its last success.
    in_a_row: AtomicU64,
    /// How its last perform ended (`Ended`), or 0.
    outcome: AtomicU32,
    /// `sys::now_coarse()` in ns at its last perform's start (with a state file) and end.
    started: AtomicU64,
    ended: AtomicU64,
    /// Its last perform's scheduled start, wall-clock ms since the Unix epoch (with a state file
    /// and a schedule).
    scheduled: AtomicU64,
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

/// How a perform ended, for the counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Ok = 1,
    /// An `Err`, a panic, a perform child that exited non-zero.
    Failed = 2,
    /// Killed at its timeout.
    Timeout = 3,
    /// A perform child killed by a signal.
    Killed = 4,
}

impl Ended {
    pub const ALL: [Ended; 4] = [Ended::Ok, Ended::Failed, Ended::Timeout, Ended::Killed];

    pub fn word(self) -> &'static str {
        ["ok", "failed", "timeout", "killed"][self as usize - 1]
    }
}

/// One slot's runs, as the master reads them (times on `sys::now_coarse`'s clock).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlotRuns {
    /// Performs by how they ended, in `Ended::ALL`'s order.
    pub counts: [u64; 4],
    pub in_a_row: u64,
    pub outcome: Option<Ended>,
    /// What the last failed perform did.
    pub failure: String,
    pub started: Option<Duration>,
    pub ended: Option<Duration>,
    pub last_success: Option<Duration>,
    /// Wall-clock ms since the Unix epoch.
    pub scheduled_ms: Option<u64>,
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
        let (me, now) = (self.slots.get(slot), sys::now_coarse().as_nanos() as u64);
        me.last_success.store(now, Relaxed);
        self.ended(me, Ended::Ok, now);
        me.in_a_row.store(0, Relaxed);
        let pool = self.pool.get(0);
        pool.in_a_row.load(Relaxed) != 0 && pool.in_a_row.swap(0, SeqCst) != 0
    }

    fn ended(&self, me: &Slot, how: Ended, now: u64) {
        me.ended.store(now, Relaxed);
        me.outcome.store(how as u32, Relaxed);
        me.counts[how as usize - 1].fetch_add(1, Relaxed);
    }

    /// In a worker with a state file: slot `slot`'s perform starts, scheduled at `scheduled_ms`
    /// (wall clock) if it has a schedule. `back_to_back`: nothing waited since the worker
    /// stamped its last perform's end, which is then this start on the coarse clock too, and
    /// the clock is not read again (a fast loop's cost).
    pub fn started(&self, slot: usize, scheduled_ms: Option<u64>, back_to_back: bool) {
        let me = self.slots.get(slot);
        let now = match back_to_back {
            true => me.ended.load(Relaxed),
            false => sys::now_coarse().as_nanos() as u64,
        };
        me.started.store(now, Relaxed);
        if let Some(ms) = scheduled_ms {
            me.scheduled.store(ms, Relaxed);
        }
    }

    /// Whether a perform of slot `slot` started (stamped with a state file only).
    pub fn has_started(&self, slot: usize) -> bool {
        self.slots.get(slot).started.load(Relaxed) != 0
    }

    /// Slot `slot`'s perform failed (`how`), as `what` says: counted by its worker, or by the
    /// master for a simple perform it killed at its timeout. Returns the failures in a row
    /// across the pool, this one included.
    pub fn failed(&self, slot: usize, what: &str, how: Ended) -> u64 {
        self.note(slot, what);
        let me = self.slots.get(slot);
        self.ended(me, how, sys::now_coarse().as_nanos() as u64);
        me.in_a_row.fetch_add(1, Relaxed);
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

    /// In the master: slot `slot`'s runs.
    pub fn slot(&self, slot: usize) -> SlotRuns {
        let me = self.slots.get(slot);
        let at = |a: &AtomicU64| Some(a.load(Relaxed)).filter(|&n| n != 0);
        let outcome = me.outcome.load(Relaxed);
        SlotRuns {
            counts: [0, 1, 2, 3].map(|i| me.counts[i].load(Relaxed)),
            in_a_row: me.in_a_row.load(Relaxed),
            outcome: Ended::ALL.into_iter().find(|e| *e as u32 == outcome),
            failure: self.failure(slot),
            started: at(&me.started).map(Duration::from_nanos),
            ended: at(&me.ended).map(Duration::from_nanos),
            last_success: at(&me.last_success).map(Duration::from_nanos),
            scheduled_ms: at(&me.scheduled),
        }
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
        assert_eq!(health.failed(1, "exited with code 1", Ended::Failed), 1);
        assert_eq!(health.failed(3, "failed: no table", Ended::Failed), 2);
        assert_eq!(health.last_failure(), "worker 3: failed: no table");
        assert!(health.succeeded(0), "the first success after failures is news");
        assert!(!health.succeeded(2), "the next is not");
        let runs = health.runs(4);
        assert_eq!((runs.failed, runs.in_a_row, health.in_a_row()), (2, 0, 0));
        let at = runs.last_success.expect("a success");
        assert!(at <= sys::now() && sys::now() - at < Duration::from_secs(5), "{at:?}");
        assert_eq!(health.failed(2, "é".repeat(600).as_str(), Ended::Killed), 1);
        let two = health.slot(2);
        assert_eq!((two.counts, two.in_a_row, two.outcome), ([1, 0, 0, 1], 1, Some(Ended::Killed)));
        assert_eq!(health.slot(1).counts, [0, 1, 0, 0]);
        assert_eq!(health.last_failure().chars().count(), "worker 2: ".len() + 500, "cut to 1,000 bytes");
    }

    #[test]
    fn a_back_to_back_start_is_the_last_end() {
        let health = Health::new(1).unwrap();
        health.started(0, Some(7), false);
        let first = health.slot(0);
        assert!(first.started.is_some() && first.ended.is_none() && first.scheduled_ms == Some(7), "{first:?}");
        // Past a tick of the coarse clock.
        std::thread::sleep(Duration::from_millis(30));
        health.succeeded(0);
        health.started(0, None, true);
        let next = health.slot(0);
        assert!(next.started == next.ended && next.started > first.started, "{first:?} then {next:?}");
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
