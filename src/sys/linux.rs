//! Linux: the reference platform, and the only one the tests run on.
//!
//! It has everything the crate uses: `PR_SET_PDEATHSIG` (a worker learns of its master's death
//! at once, even a SIGKILL), `/proc/self/stat` for the thread count, `prctl(PR_SET_NAME)`,
//! `pipe2`, `sigtimedwait`, and `pwritev2(RWF_NOWAIT)` for writes that must not block on a
//! shared pipe or socket without touching its `O_NONBLOCK` flag.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use libc::c_int;

use super::{Pid, check, check_fd, timespec};

/// The signals Linux names beyond those of every Unix.
pub const MORE_SIGNALS: [(c_int, &str); 2] = [(libc::SIGSTKFLT, "STKFLT"), (libc::SIGPWR, "PWR")];

/// `CLOCK_MONOTONIC` at a tick's resolution, read without the time counter.
pub const COARSE_CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC_COARSE;

/// The kernel can signal a child when its parent dies.
pub const DEATH_SIGNAL_WORKS: bool = true;

/// Asks the kernel to send `sig` to the calling process when its parent dies.
pub fn arm_death_signal(sig: c_int) -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and has no memory effects.
    check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong) }).map(drop)
}

/// Why there is no `/proc/self/stat`, and the way out.
const NO_PROC: &str = "/proc is not mounted, and the thread count is read there: mount it (mount -t proc proc /proc)";

/// The number of threads of this process, read from `/proc/self/stat` into a stack buffer (no
/// allocation, but for an error). An error when it cannot be read: no descriptor free, or no
/// `/proc` (a `NotFound` error that says so, and how to mount it).
pub fn thread_count() -> io::Result<usize> {
    let mut buf = [0u8; 1024];
    // SAFETY: a NUL-terminated path; open returns a new descriptor, or -1.
    let fd = unsafe { check_fd(libc::open(c"/proc/self/stat".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC)) };
    let fd = fd.map_err(|e| if e.kind() == io::ErrorKind::NotFound { io::Error::new(e.kind(), NO_PROC) } else { e })?;
    let n = File::from(fd).read(&mut buf)?;
    let stat = &buf[..n];
    // The name is in parentheses and may hold anything: count fields after the last ')'.
    // There, field 0 is the state and field 17 the number of threads.
    let after = stat.iter().rposition(|&b| b == b')').map_or(stat, |i| &stat[i + 1..]);
    let field = after.split(|&b| b == b' ').filter(|f| !f.is_empty()).nth(17);
    field
        .and_then(|f| std::str::from_utf8(f).ok()?.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no thread count in /proc/self/stat"))
}

/// Names the calling process for `ps -o comm` and `top` (15 bytes at most).
pub fn set_process_name(name: &str) {
    let mut buf = [0u8; 16];
    let len = name.len().min(15);
    buf[..len].copy_from_slice(&name.as_bytes()[..len]);
    // SAFETY: `buf` is NUL-terminated and outlives the call; PR_SET_NAME copies it.
    unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr()) };
}

/// The calling thread's `errno` slot.
pub fn errno() -> *mut c_int {
    // SAFETY: returns the calling thread's errno slot; always valid.
    unsafe { libc::__errno_location() }
}

/// The pid a successful `waitid` filled in (0 when nothing had exited).
///
/// # Safety
/// `info` must have been filled by a successful `waitid`.
pub unsafe fn siginfo_pid(info: &libc::siginfo_t) -> Pid {
    // SAFETY: the caller guarantees a filled siginfo_t.
    unsafe { info.si_pid() }
}

/// A pipe whose ends are close-on-exec and non-blocking.
pub fn pipe_cloexec_nonblock() -> io::Result<[OwnedFd; 2]> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
    // SAFETY: the two descriptors pipe2 just made, owned by nothing else.
    Ok(fds.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Takes one pending signal of `set` (which the caller has blocked), waiting for one up to
/// `timeout` (`None`: no limit). `Ok(None)` on timeout; an `Interrupted` error when a handler
/// of another signal ran.
pub fn wait_signal(set: &libc::sigset_t, timeout: Option<Duration>) -> io::Result<Option<c_int>> {
    let ts = timeout.map(timespec);
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `set` is a valid sigset; a null info pointer is allowed; `ts_ptr` is null or valid.
    match unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), ts_ptr) } {
        -1 => match io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::EAGAIN) => Ok(None),
            e => Err(e),
        },
        sig => Ok(Some(sig)),
    }
}

/// One write that fails with `WouldBlock` instead of waiting, on a descriptor shared with other
/// processes, without making it non-blocking for them. `Unsupported` where the kernel cannot
/// (a terminal, a regular file, an old kernel's pipe): the caller falls back.
pub fn write_nowait(fd: c_int, buf: &[u8]) -> io::Result<usize> {
    let iov = libc::iovec { iov_base: buf.as_ptr() as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: one valid iovec over `buf`; offset -1 means "the current position", as write(2).
    let n = unsafe { libc::pwritev2(fd, &iov, 1, -1, libc::RWF_NOWAIT) };
    if n >= 0 {
        return Ok(n as usize);
    }
    match io::Error::last_os_error() {
        e if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS)) => {
            Err(io::Error::from(io::ErrorKind::Unsupported))
        }
        e => Err(e),
    }
}

unsafe extern "C" {
    /// C's standard output stream (glibc and musl export it under this name).
    static stdout: *mut libc::FILE;
}

/// Writes out what C's `stdout` buffers; no system call when it buffers nothing.
pub fn flush_c_stdout() {
    // SAFETY: `stdout` is initialised by the C library before `main` and is a valid stream
    // (only `freopen`, which keeps it valid, changes it); fflush takes the stream's own lock.
    unsafe { libc::fflush(stdout) };
}

/// An abstract Unix socket address (the name without its leading NUL).
pub fn abstract_address(name: &[u8]) -> io::Result<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name)
}
