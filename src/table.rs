//! The heartbeat table: one record per slot in memory shared by the master and its workers
//! (and their perform children), and the protocol over it. The worker writes what only it
//! knows (setup finished, a perform started, why setup failed); the master writes its
//! requests (stop, end now, kill that perform) and wakes a waiting worker with [`WAKE`].
//! Also the exit codes by which workers and perform children tell the master how they ended.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::time::Duration;

use crate::sys::{self, Pid, Shared, Zeroed};

/// Exit code of a worker or perform child that panicked (Rust's own).
pub const EXIT_PANIC: i32 = 101;
/// Exit code of a worker whose `setup` returned `Err` (or left threads a forking worker
/// cannot live with).
pub const EXIT_SETUP_FAILED: i32 = 3;
/// Exit code of a perform child whose `perform` returned `Err`.
pub const EXIT_PERFORM_FAILED: i32 = 1;
/// Exit code of a worker or perform child that found its parent already gone.
pub const EXIT_ORPHANED: i32 = 70;

/// The signal a master sends a worker to wake it from a wait, and the signal workers and
/// perform children get when their parent dies. SIGURG, because its default action is to do
/// nothing (a stray one harms no process) and nothing else in a worker uses it; the crate
/// owns it in workers and perform children.
pub const WAKE: i32 = sys::SIGURG;

/// Room for why `setup` failed.
const NOTE_LEN: usize = 200;

/// A worker's heartbeat, as read from shared memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heartbeat {
    /// `setup` returned `Ok`.
    pub ready: bool,
    /// The worker ran its `max_performs` and ends to be replaced at once.
    pub recycled: bool,
    /// Its performs that started late against the interval's schedule.
    pub late_starts: u32,
    /// When the running perform started, if one is running (stamped only with a perform
    /// timeout).
    pub perform_started: Option<Duration>,
    /// The process group of the running perform child (forking strategy), if one runs.
    pub perform_group: Option<Pid>,
}

/// One slot's record.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct Beat {
    // Written by the worker.
    ready: AtomicBool,
    /// The worker ran its `max_performs` and is ending to be replaced.
    recycled: AtomicBool,
    /// The worker is (about to be) blocked in a wait with [`WAKE`] blocked: only then does the
    /// master signal it, so a worker running user code is never signalled to stop.
    waiting: AtomicBool,
    /// `sys::now()` in ns when the running perform started; 0 between performs.
    perform_started: AtomicU64,
    /// The running perform child's pid, which is its process group; 0 when there is none.
    perform_group: AtomicI32,
    /// `sys::now()` in ns when the slot's next perform is due on the interval's schedule, or
    /// 0: a worker that replaces this one keeps to it.
    next_due: AtomicU64,
    /// Performs that started late against the interval's schedule (overruns, suspensions).
    late_starts: AtomicU32,
    /// Why `setup` failed, as the worker wrote it.
    pub note: Note<NOTE_LEN>,
    /// The perform child logged its own failure (an `Err` or a panic), so the worker need not.
    reported: AtomicBool,
    // Written by the master (`stop` also by the worker, on a TERM or INT of its own).
    stop: AtomicBool,
    force: AtomicBool,
    /// Reopen the log before the next perform (USR1).
    reopen: AtomicBool,
    /// The `perform_started` of the perform to kill, or 0.
    kill_perform: AtomicU64,
}

// SAFETY: all fields are atomics, valid when zeroed, and hold no pointers.
unsafe impl Zeroed for Beat {}

/// The table, one beat per possible slot.
pub type Beats = Shared<Beat>;

impl Beat {
    // ---- The master's side (with SeqCst where the worker's `waiting` flag is involved: the
    // master stores its request then loads `waiting`, the worker stores `waiting` then loads
    // the requests, so one of them always sees the other).

    /// Clears the record for a worker about to be forked; it keeps the schedule of the
    /// worker it replaces if `replacing`.
    pub fn reset(&self, replacing: bool) {
        if !replacing {
            self.next_due.store(0, SeqCst);
        }
        for flag in [&self.ready, &self.recycled, &self.waiting, &self.reported, &self.stop, &self.force, &self.reopen]
        {
            flag.store(false, SeqCst);
        }
        self.perform_started.store(0, SeqCst);
        self.perform_group.store(0, SeqCst);
        self.kill_perform.store(0, SeqCst);
        self.note.write("");
        self.late_starts.store(0, SeqCst);
    }

    /// Asks the worker to stop after its current perform; true if it must be woken.
    pub fn ask_to_stop(&self) -> bool {
        self.stop.store(true, SeqCst);
        self.waiting.load(SeqCst)
    }

    /// Asks the worker to reopen its log before its next perform; true if it must be woken.
    pub fn ask_to_reopen(&self) -> bool {
        self.reopen.store(true, SeqCst);
        self.waiting.load(SeqCst)
    }

    /// In the worker: takes a request to reopen the log.
    pub fn take_reopen(&self) -> bool {
        self.reopen.swap(false, SeqCst)
    }

    /// In the worker, about to wait: whether a reopen is pending (it ends the wait).
    pub fn reopen_requested(&self) -> bool {
        self.reopen.load(SeqCst)
    }

    /// Tells the worker to kill what it runs and end itself.
    pub fn force(&self) {
        self.force.store(true, SeqCst);
    }

    /// Asks the worker to kill the perform that started at `started`; true if it must be woken.
    pub fn request_kill(&self, started: Duration) -> bool {
        self.kill_perform.store(started.as_nanos() as u64, SeqCst);
        self.waiting.load(SeqCst)
    }

    /// What the worker says about itself.
    pub fn heartbeat(&self) -> Heartbeat {
        let started = self.perform_started.load(Relaxed);
        Heartbeat {
            ready: self.ready.load(Relaxed),
            recycled: self.recycled.load(SeqCst),
            late_starts: self.late_starts.load(Relaxed),
            perform_started: (started != 0).then(|| Duration::from_nanos(started)),
            // Never 0 or 1, which `kill` would read as our own group or every process.
            perform_group: Some(self.perform_group.load(SeqCst)).filter(|&g| g > 1),
        }
    }

    // ---- The worker's side.

    /// `setup` returned `Ok`.
    pub fn set_ready(&self) {
        self.ready.store(true, SeqCst);
    }

    /// A perform started late against the interval's schedule.
    pub fn count_late_start(&self) {
        self.late_starts.fetch_add(1, Relaxed);
    }

    /// The worker ran its `max_performs` and ends to be replaced.
    pub fn set_recycled(&self) {
        self.recycled.store(true, SeqCst);
    }

    /// A perform started at `started`, or (`None`) none is running.
    pub fn stamp(&self, started: Option<Duration>) {
        self.perform_started.store(started.map_or(0, |t| t.as_nanos() as u64), Relaxed);
    }

    /// When the slot's next perform is due, as the worker it replaces left it.
    pub fn next_due(&self) -> Option<Duration> {
        Some(self.next_due.load(SeqCst)).filter(|&t| t != 0).map(Duration::from_nanos)
    }

    /// The slot's next perform is due at `due`.
    pub fn set_next_due(&self, due: Duration) {
        self.next_due.store((due.as_nanos() as u64).max(1), SeqCst);
    }

    /// The perform child `group` was forked, or (`None`) it is about to be reaped.
    pub fn set_perform_group(&self, group: Option<sys::Pid>) {
        self.perform_group.store(group.unwrap_or(0), SeqCst);
    }

    /// The worker is about to block in a wait (`true`) or is back (`false`). After saying it
    /// waits, the worker looks at the requests, then blocks.
    pub fn set_waiting(&self, waiting: bool) {
        self.waiting.store(waiting, SeqCst);
    }

    /// A graceful stop was asked for. Async-signal-safe.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(SeqCst)
    }

    /// Records a stop asked of this worker alone (TERM or INT sent to it). Async-signal-safe.
    pub fn set_stop(&self) {
        self.stop.store(true, SeqCst);
    }

    /// The master said to end at once. Async-signal-safe.
    pub fn force_requested(&self) -> bool {
        self.force.load(SeqCst)
    }

    /// Takes a kill request: true if it is for the perform that started at `started`.
    pub fn take_kill_request(&self, started: Duration) -> bool {
        match self.kill_perform.swap(0, SeqCst) {
            0 => false,
            asked => asked == started.as_nanos() as u64,
        }
    }

    /// In a perform child: it logged its own failure.
    pub fn set_reported(&self) {
        self.reported.store(true, SeqCst);
    }

    /// In the worker, once its perform child was reaped: whether the child logged its failure.
    pub fn take_reported(&self) -> bool {
        self.reported.swap(false, SeqCst)
    }
}

/// A short text in shared memory, written by one process at a time and read by another.
#[repr(C)]
#[derive(Debug)]
pub struct Note<const N: usize> {
    len: AtomicU32,
    bytes: [AtomicU8; N],
}

impl<const N: usize> Note<N> {
    /// Writes `text`, cut at a character boundary to fit.
    pub fn write(&self, text: &str) {
        let len = (0..=text.len().min(N)).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        for (slot, &b) in self.bytes.iter().zip(&text.as_bytes()[..len]) {
            slot.store(b, Relaxed);
        }
        self.len.store(len as u32, SeqCst);
    }

    /// What was written (empty if nothing was).
    pub fn read(&self) -> String {
        let len = (self.len.load(SeqCst) as usize).min(N);
        let bytes: Vec<u8> = self.bytes[..len].iter().map(|b| b.load(Relaxed)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

// This process's own record (a worker's, whose perform children inherit it), through the
// flags `sys::globals` keeps for the signal handlers. All async-signal-safe.

/// In a new worker: `beat` is this process's record.
///
/// # Safety
/// `beat` must stay valid for the rest of the process: a record of the shared table, which a
/// worker and its perform children never unmap.
pub unsafe fn set_own(beat: &Beat) {
    // SAFETY: passed on from the caller.
    unsafe { sys::globals::set_own_flags(&beat.stop, &beat.force) };
}

/// Whether this worker (or its perform child) was asked to stop, however it was asked; false
/// in the master.
pub fn own_stop_requested() -> bool {
    sys::globals::own_stop_flag().is_some_and(|stop| stop.load(SeqCst))
}

/// Whether the master said this worker must end at once; false in the master.
pub fn own_force_requested() -> bool {
    sys::globals::own_force_flag().is_some_and(|force| force.load(SeqCst))
}

/// Records a stop asked of this worker alone (TERM or INT sent to it).
pub fn own_set_stop() {
    if let Some(stop) = sys::globals::own_stop_flag() {
        stop.store(true, SeqCst);
    }
}
