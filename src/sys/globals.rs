//! Every process-wide global of the crate, in one place, so that what a fork copies is seen at
//! a glance. All are plain atomics: signal handlers read and write some of them.
//!
//! | global | holds | written by | in a freshly forked child |
//! |---|---|---|---|
//! | `MASTER_FDS` | descriptors only the master may hold: self-pipe, pidfile, ready pipe, notify socket | the master, as it opens and closes them | closed, then emptied |
//! | `PENDING` | per-signal counts of the master's handled signals, not yet taken | the master's handlers; its loop takes them | left: zeroed when handlers are installed |
//! | `WAKE_FD` | the write end of the master's self-pipe, or -1 | `MasterSignals` | -1 (the pipe is closed) |
//! | `INSTALLED` | whether a `MasterSignals` exists | `MasterSignals` | false |
//! | [`DROPPED_LINES`] | log lines this process dropped and has not yet reported, and [`CUT`]: a write of its failed | the log writer | zeroed: the parent's drops are the parent's to report |
//! | `OWN_STOP`, `OWN_FORCE` | this worker's stop and force flags in the shared table; null in the master | a worker as it starts | kept: a perform child answers to its worker's flags |
//! | `PARENT` | the pid of the process that forked this one; 0 in the master | a worker or perform child as it starts | kept, until the child records its own parent |
//! | `JOB_LOGGER` (thread-local) | a type-erased pointer through which a job logs with its worker's logger; null in the master and on any thread but the worker's own | the worker's thread as it starts | kept: a perform child is a copy of that thread, and logs through its worker's logger |
//!
//! [`reset_in_child`] does what the last column says, in every child `fork_leader` makes (a
//! daemon's forks make the master itself, and keep everything).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering::Relaxed};

use super::fd::close;

/// Descriptors only the master may hold, or -1: every forked child closes them first thing.
/// Close-on-exec is not enough, since a worker does not exec, and a worker holding a copy
/// would keep a lock alive or a pipe open after the master died. Eight is more than the crate
/// ever holds at once.
pub(super) static MASTER_FDS: [AtomicI32; 8] = [const { AtomicI32::new(-1) }; 8];

/// Per-signal arrival counts since the master's loop last looked, by signal number: counts,
/// not flags, so three quick TTINs add three workers.
pub(super) static PENDING: [AtomicU32; 32] = [const { AtomicU32::new(0) }; 32];
/// Write end of the master's self-pipe, or -1.
pub(super) static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
/// Whether the master's handlers are installed: only one `MasterSignals` may exist.
pub(super) static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Lines this process could not write, not yet reported, with [`CUT`] set once a write failed
/// rather than found the output full.
pub(crate) static DROPPED_LINES: AtomicU64 = AtomicU64::new(0);
/// In [`DROPPED_LINES`]: a write failed (a full disk, an I/O error) or stopped part-way, so the
/// output may end in the middle of a line.
pub(crate) const CUT: u64 = 1 << 63;

// The worker's own.
static OWN_STOP: AtomicPtr<AtomicBool> = AtomicPtr::new(std::ptr::null_mut());
static OWN_FORCE: AtomicPtr<AtomicBool> = AtomicPtr::new(std::ptr::null_mut());
/// The pid of the process that forked this one, as recorded before the fork; 0 in the master.
pub(crate) static PARENT: AtomicI32 = AtomicI32::new(0);
thread_local! {
    /// The worker's logger, type-erased (only the code that stores it knows its type), for a
    /// job to log through. Thread-local, since a `Logger` need not be thread-safe: null in the
    /// master and on every thread but the worker's own (and its perform children's copy).
    pub(crate) static JOB_LOGGER: Cell<*const ()> = const { Cell::new(std::ptr::null()) };
}

/// Records this worker's stop and force flags, for its signal handlers and its perform
/// children.
///
/// # Safety
/// Both must stay valid for the rest of the process: they are in the shared table, which a
/// worker and its perform children never unmap.
pub(crate) unsafe fn set_own_flags(stop: &AtomicBool, force: &AtomicBool) {
    OWN_STOP.store(std::ptr::from_ref(stop).cast_mut(), Relaxed);
    OWN_FORCE.store(std::ptr::from_ref(force).cast_mut(), Relaxed);
}

/// This worker's stop flag; `None` in the master.
pub(crate) fn own_stop_flag() -> Option<&'static AtomicBool> {
    // SAFETY: null, or set by `set_own_flags`, whose caller promised it stays valid for the
    // rest of the process (it points into the shared table, never unmapped in a worker or
    // perform child).
    unsafe { OWN_STOP.load(Relaxed).as_ref() }
}

/// This worker's force flag (kill what it runs and end now); `None` in the master.
pub(crate) fn own_force_flag() -> Option<&'static AtomicBool> {
    // SAFETY: as in `own_stop_flag`.
    unsafe { OWN_FORCE.load(Relaxed).as_ref() }
}

/// Run first in a freshly forked child: closes the master's descriptors, forgets the master's
/// signal handlers and the parent's dropped log lines (see the table above).
pub(super) fn reset_in_child() {
    // Each is written only if it must change: a write to a page the parent shares costs the
    // child a copy of that page (a perform child's, on every perform).
    for slot in &MASTER_FDS {
        if slot.load(Relaxed) >= 0 {
            close(slot.swap(-1, Relaxed));
        }
    }
    if INSTALLED.load(Relaxed) {
        WAKE_FD.store(-1, Relaxed);
        INSTALLED.store(false, Relaxed);
    }
    if DROPPED_LINES.load(Relaxed) > 0 {
        DROPPED_LINES.store(0, Relaxed);
    }
}
