//! Processes: fork, wait, kill, exit.

use std::io::{self, Write};

use libc::c_int;

use super::globals::reset_in_child;
use super::{Pid, check, os};

pub use os::{arm_death_signal, set_process_name};

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It called exit with this code.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
    /// It was reaped by someone else (the caller's own `waitpid`, or SIGCHLD ignored).
    Vanished,
}

fn decode(status: c_int) -> Exit {
    if libc::WIFSIGNALED(status) { Exit::Signal(libc::WTERMSIG(status)) } else { Exit::Code(libc::WEXITSTATUS(status)) }
}

pub fn getpid() -> Pid {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

pub fn getppid() -> Pid {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() }
}

/// A child that has exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exited {
    pub pid: Pid,
    /// It is a zombie until [`collect`] reaps it, so its pid and process group cannot be
    /// reused meanwhile. False for a child someone else reaped already.
    pub zombie: bool,
}

/// A child that has exited: `pid`, or any child when `pid` is `None`. `Ok(None)` when none
/// has (more) exited, including when there are no children; a specific `pid` that is no longer
/// our child (someone else reaped it) comes back as not a zombie.
pub fn peek_exited(pid: Option<Pid>) -> io::Result<Option<Exited>> {
    let (idtype, id) = match pid {
        Some(pid) => (libc::P_PID, pid as libc::id_t),
        None => (libc::P_ALL, 0),
    };
    // SAFETY: zeroed siginfo_t is valid; waitid fills it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `info` is a valid out-pointer; WNOWAIT leaves the child a zombie.
        let ret = unsafe { libc::waitid(idtype, id, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) };
        if ret == 0 {
            break;
        }
        match io::Error::last_os_error() {
            e if e.kind() == io::ErrorKind::Interrupted => continue,
            e if e.raw_os_error() == Some(libc::ECHILD) => return Ok(pid.map(|pid| Exited { pid, zombie: false })),
            e => return Err(e),
        }
    }
    // SAFETY: waitid succeeded, so the pid field is initialised (0 if nothing has exited).
    let found = unsafe { os::siginfo_pid(&info) };
    Ok((found != 0).then_some(Exited { pid: found, zombie: true }))
}

/// Reaps `pid`, which [`peek_exited`] found exited: this cannot block.
pub fn collect(pid: Pid) -> io::Result<Exit> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer.
        match check(unsafe { libc::waitpid(pid, &mut status, 0) }) {
            Ok(_) => return Ok(decode(status)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => return Ok(Exit::Vanished),
            Err(e) => return Err(e),
        }
    }
}

/// Whether our child `pid` has exited (or is no longer ours), without reaping it.
pub fn has_exited(pid: Pid) -> bool {
    !matches!(peek_exited(Some(pid)), Ok(None))
}

/// Sends `sig` to the process `pid`.
pub fn kill(pid: Pid, sig: c_int) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// Sends `sig` to the process group led by `pid`.
pub fn kill_group(pid: Pid, sig: c_int) -> io::Result<()> {
    kill(-pid, sig)
}

/// Sends `sig` to the caller's own process group, the caller included. Async-signal-safe.
pub fn kill_own_group(sig: c_int) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(0, sig) };
}

/// Forks a child that leads a new process group (set on both sides of the fork, so the group
/// exists before either signals it), resets the process-wide globals the parent left
/// ([`reset_in_child`]: the master's descriptors and handlers, the dropped log lines), then
/// runs `child`, which must end the process. The caller blocks whatever signals must not
/// reach a handler in the child before the child has set its own.
///
/// # Safety
/// The calling process must be single-threaded: the child runs arbitrary Rust code, which may
/// need locks (the allocator's, stdout's) that another thread could hold at the fork.
pub unsafe fn fork_leader(child: impl FnOnce()) -> io::Result<Pid> {
    // SAFETY: the caller guarantees a single-threaded process.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            // SAFETY: setpgid(0, 0) makes the calling process a group leader.
            unsafe { libc::setpgid(0, 0) };
            reset_in_child();
            run_child(child)
        }
        pid => {
            // SAFETY: setpgid on our own child; failure (it already exited, or exec'd) is harmless.
            unsafe { libc::setpgid(pid, pid) };
            Ok(pid)
        }
    }
}

/// Runs a forked child's body and ends the process: whatever happens, a child never returns
/// or unwinds into the code that forked it, which would then run twice.
fn run_child(child: impl FnOnce()) -> ! {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)) {
        Ok(()) => exit(0),
        Err(payload) => {
            // Dropping it could panic again, outside any catch_unwind.
            std::mem::forget(payload);
            exit(101)
        }
    }
}

/// Writes out what Rust's stdout and C's `stdout` buffer: after each simple-strategy perform,
/// so that what it printed survives a later SIGKILL. No system call when nothing is buffered,
/// and about 50 ns (flushing every C stream would take twice that).
pub fn flush_stdouts() {
    let _ = io::stdout().flush();
    os::flush_c_stdout();
}

/// Writes out Rust's stdout and every C stdio stream: before a fork, so the child does not
/// print it again, and before `_exit`, so it is not lost.
pub fn flush_stdio() {
    let _ = io::stdout().flush();
    // SAFETY: fflush(NULL) flushes every open output stream; it has no other preconditions.
    unsafe { libc::fflush(std::ptr::null_mut()) };
}

/// Flushes stdio and ends the process without running at-exit handlers or destructors, which
/// belong to the process we were forked from.
pub fn exit(code: i32) -> ! {
    flush_stdio();
    // SAFETY: _exit has no preconditions and never returns.
    unsafe { libc::_exit(code) }
}
