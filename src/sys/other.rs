//! macOS and the BSDs: built by reading, not tested (the tests need Linux's `/proc`).
//!
//! What such a build lacks, and what stands in for it:
//! - No parent-death signal: a worker checks between performs, and at least once a second
//!   while it waits, whether its master is gone; a master's SIGKILL is noticed that late (the
//!   worker then kills its perform child's group). A perform child outlives a worker that is
//!   itself SIGKILLed, until its perform ends.
//! - No cheap thread count: [`thread_count`] fails, so forking is refused unless the user
//!   waives the check with `allow_threads`.
//! - No process names for `ps`; `pipe2` is emulated (the master is single-threaded, so no fork
//!   can slip in between); `sigtimedwait` is emulated by polling the pending set every
//!   [`PARENT_POLL`]; writes that must not block look with `poll` first, which leaves a small
//!   race with other writers of the same pipe.
//! - No abstract socket addresses: `NOTIFY_SOCKET=@name` is refused with an error (systemd
//!   itself exists on Linux only).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use libc::c_int;

use super::{Pid, check, now, sleep};

/// The signals this system names beyond those of every Unix (none that the crate lists).
pub const MORE_SIGNALS: [(c_int, &str); 0] = [];

/// No coarse monotonic clock is used here.
pub const COARSE_CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC;

/// The kernel cannot signal a child when its parent dies.
pub const DEATH_SIGNAL_WORKS: bool = false;

/// How often an emulated wait looks at the pending signals.
pub const PARENT_POLL: Duration = Duration::from_millis(10);

/// Not available: the caller falls back to checking its parent.
pub fn arm_death_signal(_sig: c_int) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Not available here: forking is refused unless the user calls `allow_threads`.
pub fn thread_count() -> io::Result<usize> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "this system gives no cheap thread count"))
}

/// Process names for `ps` are not set on this system.
pub fn set_process_name(_name: &str) {}

/// The calling thread's `errno` slot.
pub fn errno() -> *mut c_int {
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd", target_os = "dragonfly"))]
    // SAFETY: returns the calling thread's errno slot; always valid.
    unsafe {
        libc::__error()
    }
    #[cfg(any(target_os = "openbsd", target_os = "netbsd", target_os = "android"))]
    // SAFETY: as above.
    unsafe {
        libc::__errno()
    }
}

/// The pid a successful `waitid` filled in (0 when nothing had exited).
///
/// # Safety
/// `info` must have been filled by a successful `waitid`.
pub unsafe fn siginfo_pid(info: &libc::siginfo_t) -> Pid {
    #[cfg(target_os = "android")]
    // SAFETY: the caller guarantees a filled siginfo_t.
    unsafe {
        info.si_pid()
    }
    #[cfg(not(target_os = "android"))]
    info.si_pid
}

/// A pipe whose ends are close-on-exec and non-blocking.
pub fn pipe_cloexec_nonblock() -> io::Result<[OwnedFd; 2]> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors.
    check(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
    // SAFETY: the two descriptors pipe just made, owned by nothing else.
    let fds = fds.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
    for fd in &fds {
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK);
        }
    }
    Ok(fds)
}

unsafe extern "C" {
    /// POSIX; not declared by the libc crate for every target.
    fn sigwait(set: *const libc::sigset_t, sig: *mut c_int) -> c_int;
}

/// Takes one pending signal of `set` (which the caller has blocked), looking every
/// [`PARENT_POLL`] up to `timeout` (`None`: no limit). `Ok(None)` on timeout.
pub fn wait_signal(set: &libc::sigset_t, timeout: Option<Duration>) -> io::Result<Option<c_int>> {
    let end = timeout.map(|t| now() + t);
    loop {
        // SAFETY: zeroed is a valid sigset; sigpending fills it; sigismember reads valid sets.
        let pending_of_set = unsafe {
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending);
            (1..32).find(|&s| libc::sigismember(&pending, s) == 1 && libc::sigismember(set, s) == 1)
        };
        if let Some(sig) = pending_of_set {
            let mut got = 0;
            // SAFETY: `sig` is pending and blocked, so sigwait returns at once.
            let one = unsafe {
                let mut only: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut only);
                libc::sigaddset(&mut only, sig);
                sigwait(&only, &mut got)
            };
            return if one == 0 { Ok(Some(got)) } else { Err(io::Error::from_raw_os_error(one)) };
        }
        let left = end.map(|e| e.saturating_sub(now()));
        if left == Some(Duration::ZERO) {
            return Ok(None);
        }
        sleep(left.map_or(PARENT_POLL, |l| l.min(PARENT_POLL)));
    }
}

/// No kernel support for a one-off non-blocking write: the caller falls back to `poll`.
pub fn write_nowait(_fd: c_int, _buf: &[u8]) -> io::Result<usize> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Writes out what C's stdio buffers. The name of the `stdout` symbol differs between these
/// systems, so every stream is flushed.
pub fn flush_c_stdout() {
    // SAFETY: fflush(NULL) flushes every open output stream; it has no other preconditions.
    unsafe { libc::fflush(std::ptr::null_mut()) };
}

/// Abstract Unix socket addresses exist on Linux only.
pub fn abstract_address(_name: &[u8]) -> io::Result<std::os::unix::net::SocketAddr> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "abstract socket addresses exist on Linux only"))
}
