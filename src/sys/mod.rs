//! Every libc call and every `cfg(target_os)` of the crate. Above this module the code reads as
//! plain Rust: pids, exit statuses, signal numbers and durations, never raw `sigset_t`s or
//! `siginfo_t`s.
//!
//! Split by concern: [`signal`] (dispositions, masks, waiting for a signal, the master's
//! self-pipe), [`process`] (fork, wait, kill, exit), [`shm`] (the shared heartbeat table),
//! [`output`] (writes that never block), [`fd`] (descriptors), [`globals`] (every
//! process-wide global of the crate, and what a forked child does with each), and what serves
//! a service manager or an init script: [`notify`] (`sd_notify`), [`pidfile`] and [`daemon`].
//! What differs between systems is in one file per OS family: `linux.rs`, and `other.rs` for
//! macOS and the BSDs, whose header says what such a build lacks.

mod daemon;
mod fd;
pub(crate) mod globals;
mod host;
mod notify;
mod output;
mod pidfile;
mod process;
mod shm;
mod signal;

#[cfg(target_os = "linux")]
#[path = "linux.rs"]
mod os;
#[cfg(not(target_os = "linux"))]
#[path = "other.rs"]
mod os;

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use libc::c_int;

pub use daemon::{ReadyPipe, daemonize, reopen_output};
pub use fd::{close, open_append};
pub(crate) use globals::{CUT, DROPPED_LINES};
pub use host::{hostname, process_identity, reread_time_zone, running, utc_offset};
pub use notify::{NotifySocket, forget_service_env, notify_socket_set, watchdog_from_env};
pub use os::{DEATH_SIGNAL_WORKS, thread_count};
pub use output::write_nowait;
pub use pidfile::{Held, Pidfile};
pub use process::*;
pub use shm::{Shared, Zeroed};
pub use signal::*;

/// A process id.
pub type Pid = libc::pid_t;

fn check(ret: c_int) -> io::Result<c_int> {
    if ret == -1 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

/// Takes ownership of the descriptor a libc call returned, or of its error (-1).
///
/// # Safety
/// `ret` must be -1 or a descriptor that nothing else owns, such as one the call just made.
unsafe fn check_fd(ret: c_int) -> io::Result<OwnedFd> {
    // SAFETY: not -1, so by the caller's promise a descriptor that nothing else owns.
    check(ret).map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Monotonic time since an arbitrary point (boot), shared by all processes of the machine, so a
/// worker can stamp it into shared memory and the master can compare it with its own clock.
pub fn now() -> Duration {
    clock(libc::CLOCK_MONOTONIC)
}

/// The same clock, read more cheaply at a few milliseconds' resolution where the system can.
pub fn now_coarse() -> Duration {
    clock(os::COARSE_CLOCK)
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; both clocks exist where we build for.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Sleeps for `d`, or less if a signal handler runs.
pub fn sleep(d: Duration) {
    let ts = timespec(d);
    // SAFETY: `ts` is a valid timespec; the remainder pointer may be null.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

fn timespec(d: Duration) -> libc::timespec {
    // `as _`, not `as libc::time_t`: on musl the libc crate marks that alias deprecated (a warning).
    libc::timespec { tv_sec: d.as_secs().min(i32::MAX as u64) as _, tv_nsec: d.subsec_nanos() as _ }
}
