//! Descriptors the crate makes: always close-on-exec, never on 0, 1 or 2.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;

use libc::c_int;

use super::check_fd;
use super::globals::MASTER_FDS;

/// `fd` itself if it is above the standard three, else a close-on-exec copy above them (and
/// `fd` is closed): in a process started with stdin, stdout or stderr closed, a new descriptor
/// takes their number, and whatever the process then prints would go into it.
pub fn dup_above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: fcntl on a descriptor we own; F_DUPFD_CLOEXEC returns a new one, or -1.
    unsafe { check_fd(libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3)) }
}

/// Opens `path` for appending, creating it (mode 0644, less the umask) if missing:
/// close-on-exec, above the standard three. Also `O_NONBLOCK`, which regular files ignore, so
/// that a FIFO at `path` with no reader fails at once instead of blocking the open.
pub fn open_append(path: &Path) -> io::Result<OwnedFd> {
    // A NUL byte in it is an `InvalidInput` error.
    let path = CString::new(path.as_os_str().as_bytes())?;
    let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: `path` is a NUL-terminated string that outlives the call; O_CREAT takes the mode
    // as its third argument; open returns a new descriptor, or -1.
    dup_above_stdio(unsafe { check_fd(libc::open(path.as_ptr(), flags, 0o644 as libc::c_uint)) }?)
}

/// Closes `fd`, which the caller owns and will not use again.
pub fn close(fd: c_int) {
    // SAFETY: closing a descriptor the caller owns and will not use again.
    unsafe { libc::close(fd) };
}

/// A descriptor only the master may hold: every forked child closes it first thing (see
/// [`MASTER_FDS`]). Dropping it closes it.
#[derive(Debug)]
pub(super) struct MasterFd(OwnedFd);

impl MasterFd {
    pub(super) fn new(fd: OwnedFd) -> Self {
        remember_master_fd(fd.as_raw_fd());
        MasterFd(fd)
    }
}

impl AsRawFd for MasterFd {
    fn as_raw_fd(&self) -> c_int {
        self.0.as_raw_fd()
    }
}

impl Drop for MasterFd {
    /// Forgets it before its field closes it.
    fn drop(&mut self) {
        forget_master_fd(self.0.as_raw_fd());
    }
}

/// Adds `fd` to the descriptors workers close.
pub(super) fn remember_master_fd(fd: c_int) {
    // Were it full, the worker would merely keep a close-on-exec copy.
    let _ = MASTER_FDS.iter().find(|slot| slot.compare_exchange(-1, fd, Relaxed, Relaxed).is_ok());
}

/// Takes `fd` out of the descriptors workers close (before the master closes it).
pub(super) fn forget_master_fd(fd: c_int) {
    for slot in &MASTER_FDS {
        let _ = slot.compare_exchange(fd, -1, Relaxed, Relaxed);
    }
}
