//! A worker's and a perform child's signal dispositions, and the worker's one way of waiting.
//!
//! At the fork a worker sets its own dispositions: INT and TERM ask it to stop (the flag is in
//! shared memory, so its perform child sees it too); HUP, USR1, USR2 and WINCH do nothing (a
//! handler, not `SIG_IGN`, which an `exec` would pass on); TTIN and TTOU are ignored (so a
//! background read of the terminal fails with EIO instead of being retried forever); [`WAKE`]
//! ends the whole process group when the parent is gone or the master said to end now. `WAKE` is also the
//! parent-death signal. A forking worker runs no user code after `setup`, so it then takes
//! these signals back from whatever `setup` did with them and keeps them blocked, taking them
//! with a timed wait: no disposition or mask that `setup` left can switch a stop, a timeout or
//! the master's death off. Its perform children get `setup`'s dispositions and mask back, except
//! for `WAKE`, which stays the crate's.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::sys::globals::PARENT;
use crate::sys::{
    self, Action, Disposition, SA_NOCLDSTOP, SA_RESTART, SIGCHLD, SIGHUP, SIGINT, SIGKILL, SIGTERM, SIGTTIN, SIGTTOU,
    SIGUSR1, SIGUSR2, SIGWINCH, SigSet,
};
use crate::table::{self, Beat, EXIT_ORPHANED, WAKE};

/// Whether the process that forked this one has died (we were reparented).
pub fn parent_gone() -> bool {
    sys::getppid() != PARENT.load(Relaxed)
}

extern "C" fn on_stop(_: i32) {
    table::own_set_stop();
}

extern "C" fn on_wake(_: i32) {
    // Async-signal-safe: atomics, getppid and kill. In a worker this ends its group (what
    // `setup` or a simple perform started); in a perform child, the perform's group.
    if table::own_force_requested() || parent_gone() {
        sys::kill_own_group(SIGKILL);
    }
}

extern "C" fn on_ignored(_: i32) {}

/// The signals that would otherwise kill a worker for no reason of its own.
const IGNORED: [i32; 4] = [SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH];

/// What a worker takes while it waits: its perform child's exit, a wake-up, a stop.
pub fn wait_set() -> SigSet {
    SigSet::of(&[SIGCHLD, WAKE, SIGTERM, SIGINT])
}

/// Sets up a new worker (the master's signals are blocked) or perform child: records its beat
/// and its parent, sets the worker dispositions, and asks for `WAKE` when the parent dies.
/// An error says why the kernel will not send it; then the caller must check `parent_gone`.
/// The process ends at once if its parent died already.
///
/// # Safety
/// `beat` must stay valid for the rest of the process: a record of the shared table, which a
/// worker and its perform children never unmap.
pub unsafe fn adopt(beat: &Beat, parent: sys::Pid, worker: bool) -> std::io::Result<()> {
    // SAFETY: passed on from the caller.
    unsafe { table::set_own(beat) };
    PARENT.store(parent, Relaxed);
    if worker {
        for sig in [SIGINT, SIGTERM] {
            let _ = sys::set_disposition(sig, Disposition::Handler(on_stop), SA_RESTART);
        }
        for sig in IGNORED {
            let _ = sys::set_disposition(sig, Disposition::Handler(on_ignored), SA_RESTART);
        }
        // SIG_IGN, not a handler: a job in a background group that reads the terminal then gets
        // EIO (and a write or `tcsetattr` goes through), where with a handler the kernel would
        // restart the call, and signal it again, forever.
        for sig in [SIGTTIN, SIGTTOU] {
            let _ = sys::set_disposition(sig, Disposition::Ignore, 0);
        }
        let _ = sys::set_disposition(SIGCHLD, Disposition::Default, 0);
        let _ = sys::set_disposition(sys::SIGQUIT, Disposition::Default, 0);
    }
    let _ = sys::set_disposition(WAKE, Disposition::Handler(on_wake), SA_RESTART);
    let armed = sys::arm_death_signal(WAKE);
    if parent_gone() {
        sys::exit(EXIT_ORPHANED);
    }
    armed
}

/// What `setup` left for the signals a forking worker takes back, to hand to its performs.
#[derive(Clone, Copy, Debug)]
pub struct SetupSignals {
    /// `setup`'s dispositions of TERM, INT and CHLD, where they differ from the worker's.
    changed: [Option<(i32, Action)>; 3],
    mask: SigSet,
}

/// After `setup`, in a forking worker: takes back TERM, INT, CHLD and `WAKE` and blocks them.
pub fn take_back() -> SetupSignals {
    let mask = SigSet::current_mask();
    let mut changed = [None; 3];
    for (slot, sig) in changed.iter_mut().zip([SIGTERM, SIGINT, SIGCHLD]) {
        let ours = if sig == SIGCHLD { Disposition::Default } else { Disposition::Handler(on_stop) };
        // SA_NOCLDSTOP: a perform child stopped by a signal is not a reason to wake.
        let flags = if sig == SIGCHLD { SA_NOCLDSTOP } else { SA_RESTART };
        if let Ok(old) = sys::set_disposition(sig, ours, flags) {
            let same = if sig == SIGCHLD { old.is_default() } else { old.runs(on_stop) };
            *slot = (!same).then_some((sig, old));
        }
    }
    let _ = sys::set_disposition(WAKE, Disposition::Handler(on_wake), SA_RESTART);
    wait_set().block();
    SetupSignals { changed, mask }
}

/// In a perform child, before `perform`: `setup`'s dispositions and mask, but `WAKE` unblocked.
pub fn give_back(setup: &SetupSignals) {
    for (sig, action) in setup.changed.iter().flatten() {
        action.restore(*sig);
    }
    setup.mask.without(WAKE).set_mask();
}

/// Blocks in a wait for one signal of `set` (which the caller has blocked) until `timeout`
/// (`None`: no limit), telling the master through `beat` that it may wake us. `check` runs
/// after the worker said it waits and before it blocks: a request the master made before it
/// saw us waiting is seen there; one made after comes with a `WAKE`. Returns the signal taken,
/// or `None` on timeout, an interruption, or when `check` said not to block.
pub fn wait(beat: &Beat, set: &SigSet, timeout: Option<Duration>, check: impl FnOnce() -> bool) -> Option<i32> {
    beat.set_waiting(true);
    let got = if check() { set.wait(timeout) } else { None };
    beat.set_waiting(false);
    if matches!(got, Some(SIGTERM | SIGINT)) {
        beat.set_stop();
    }
    got
}
