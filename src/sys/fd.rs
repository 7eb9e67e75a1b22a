//! Descriptors the crate makes: always close-on-exec, never on 0, 1 or 2.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering::Relaxed};

use libc::c_int;

use super::check;

/// `fd` itself if it is above the standard three, else a close-on-exec copy above them (and
/// `fd` is closed): in a process started with stdin, stdout or stderr closed, a new descriptor
/// takes their number, and whatever the process then prints would go into it.
pub fn dup_above_stdio(fd: c_int) -> io::Result<c_int> {
    if fd > 2 {
        return Ok(fd);
    }
    // SAFETY: fcntl on a descriptor the caller owns.
    let copy = check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) });
    close(fd);
    copy
}

/// Closes `fd` if it is one (not negative).
pub fn close_if_open(fd: c_int) {
    if fd >= 0 {
        close(fd);
    }
}

/// Opens `path` for appending, creating it (mode 0644, less the umask) if missing:
/// close-on-exec, above the standard three. Also `O_NONBLOCK`, which regular files ignore, so
/// that a FIFO at `path` with no reader fails at once instead of blocking the open.
pub fn open_append(path: &Path) -> io::Result<c_int> {
    let path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: `path` is a NUL-terminated string that outlives the call; O_CREAT takes the mode
    // as its third argument.
    let fd = check(unsafe { libc::open(path.as_ptr(), flags, 0o644 as libc::c_uint) })?;
    dup_above_stdio(fd)
}

/// Closes `fd`, which the caller owns and will not use again.
pub fn close(fd: c_int) {
    // SAFETY: closing a descriptor the caller owns and will not use again.
    unsafe { libc::close(fd) };
}

/// Descriptors only the master may hold (its self-pipe): every forked worker closes them first
/// thing. Close-on-exec is not
/// enough, since a worker does not exec, and a worker holding a copy would keep a lock alive
/// or a pipe open after the master died.
static MASTER_FDS: [AtomicI32; 8] = [const { AtomicI32::new(-1) }; 8];

/// Adds `fd` to the descriptors workers close.
pub(super) fn remember_master_fd(fd: c_int) {
    // Eight is more than the crate ever holds at once; were it full, the worker would merely
    // keep a close-on-exec copy.
    let _ = MASTER_FDS.iter().find(|slot| slot.compare_exchange(-1, fd, Relaxed, Relaxed).is_ok());
}

/// Takes `fd` out of the descriptors workers close (before the master closes it).
pub(super) fn forget_master_fd(fd: c_int) {
    for slot in &MASTER_FDS {
        let _ = slot.compare_exchange(fd, -1, Relaxed, Relaxed);
    }
}

/// In a freshly forked child: closes every descriptor only the master may hold.
pub(super) fn close_master_fds() {
    for slot in &MASTER_FDS {
        close_if_open(slot.swap(-1, Relaxed));
    }
}
