//! Time and small system helpers.

use std::time::Duration;

use libc::c_int;

use crate::procfs::Pid;

pub(crate) fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The monotonic time `d` from now, in ns.
pub(crate) fn after(d: Duration) -> u64 {
    now_ns() + d.as_nanos() as u64
}

pub(crate) fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

pub(crate) fn getpid() -> Pid {
    // SAFETY: no preconditions.
    unsafe { libc::getpid() }
}

fn getppid() -> Pid {
    // SAFETY: no preconditions.
    unsafe { libc::getppid() }
}

pub(crate) fn kill(pid: Pid, sig: c_int) {
    // SAFETY: kill has no memory effects. Callers only pass pids they have not reaped.
    unsafe { libc::kill(pid, sig) };
}

pub(crate) fn close(fd: c_int) {
    // SAFETY: closing a descriptor this module opened and owns.
    unsafe { libc::close(fd) };
}

pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Ends a forked child at once: no destructors or at-exit handlers of the process it was
/// forked from.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(code) }
}

/// fork(2). Only ever called from single-threaded processes: the bench, its bare runners and
/// bare supervisors, none of which starts a thread.
pub(crate) fn fork() -> Pid {
    // SAFETY: the calling process is single-threaded (see above), so the child inherits no lock
    // held by another thread.
    unsafe { libc::fork() }
}

/// Makes the calling child die with its parent (`parent`), and end at once if it already has.
pub(crate) fn die_with(parent: Pid) {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; no memory effects.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if getppid() != parent {
        exit_now(70);
    }
}

pub(crate) fn sigset(sigs: &[c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set before sigaddset adds valid signal numbers.
    unsafe {
        let mut set = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in sigs {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Sleeps `d`, returning early if a signal handler runs: a stop request ends a sleeping perform.
pub(crate) fn sleep_unless_signalled(d: Duration) {
    let ts = libc::timespec { tv_sec: d.as_secs() as _, tv_nsec: d.subsec_nanos() as _ };
    // SAFETY: `ts` is a valid timespec; the remainder pointer may be null.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}
