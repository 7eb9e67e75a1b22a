//! Child processes: forking them, reading their records, sweeping up after them.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use libc::c_int;

use crate::procfs::{Pid, descendants_of};
use crate::records::{REC_LEN, Rec, SETUP};
use crate::sys::{after, close, die_with, exit_now, fork, getpid, kill, now_ns};
use crate::{MS, SEC};

/// A child of the bench, and the read end of the pipe its descendants report on.
pub(crate) struct Proc {
    pub(crate) pid: Pid,
    rx: c_int,
    buf: Vec<u8>,
    eof: bool,
    reaped: bool,
}

/// Forks a child in its own process group that dies with the bench and runs `body` with the
/// write end of a fresh pipe; the child exits with `body`'s code.
pub(crate) fn spawn(body: impl FnOnce(c_int) -> i32) -> Result<Proc, String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
    }
    // Room for a burst of records (a thousand setups), so no writer blocks; best effort.
    // SAFETY: fcntl on a descriptor we just created.
    unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 1 << 20) };
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let bench = getpid();
    match fork() {
        -1 => {
            let e = std::io::Error::last_os_error();
            close(fds[0]);
            close(fds[1]);
            Err(format!("fork: {e}"))
        }
        0 => {
            close(fds[0]);
            // SAFETY: makes the calling process a group leader; no memory effects.
            unsafe { libc::setpgid(0, 0) };
            die_with(bench);
            let code = catch_unwind(AssertUnwindSafe(|| body(fds[1]))).unwrap_or(99);
            exit_now(code)
        }
        pid => {
            close(fds[1]);
            // SAFETY: fcntl on our own descriptor.
            unsafe { libc::fcntl(fds[0], libc::F_SETFL, libc::O_NONBLOCK) };
            Ok(Proc { pid, rx: fds[0], buf: Vec::with_capacity(1 << 16), eof: false, reaped: false })
        }
    }
}

impl Proc {
    /// The next record, or `None` at `deadline` (or once every writer is gone).
    fn next(&mut self, deadline: u64) -> Option<Rec> {
        loop {
            if self.buf.len() >= REC_LEN {
                let rec = Rec::decode(&self.buf[..REC_LEN]);
                self.buf.drain(..REC_LEN);
                return Some(rec);
            }
            let now = now_ns();
            if self.eof || now >= deadline {
                return None;
            }
            let ms = (deadline - now).div_ceil(1_000_000).min(1000) as c_int;
            let mut pfd = libc::pollfd { fd: self.rx, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, ms) };
            let mut chunk = [0u8; 4096];
            // SAFETY: reads into a valid stack buffer of the length given.
            let n = unsafe { libc::read(self.rx, chunk.as_mut_ptr().cast(), chunk.len()) };
            if n > 0 {
                self.buf.extend_from_slice(&chunk[..n as usize]);
            } else if n == 0 {
                self.eof = true;
            }
        }
    }

    /// The next record that satisfies `pred`, skipping others; an error at `deadline`.
    pub(crate) fn expect(&mut self, what: &str, deadline: u64, pred: impl Fn(&Rec) -> bool) -> Result<Rec, String> {
        while let Some(rec) = self.next(deadline) {
            if pred(&rec) {
                return Ok(rec);
            }
        }
        if self.eof {
            Err(format!("pid {} and everything below it exited before {what}", self.pid))
        } else {
            Err(format!("timed out waiting for {what} (pid {})", self.pid))
        }
    }

    /// The `n` next SETUP records.
    pub(crate) fn setups(&mut self, n: usize, timeout: Duration) -> Result<Vec<Rec>, String> {
        let deadline = after(timeout);
        (0..n).map(|i| self.expect(&format!("setup {}/{n}", i + 1), deadline, |r| r.kind == SETUP)).collect()
    }

    /// Reaps the child, which must be exiting; its exit code (128 + signal if killed).
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Result<i32, String> {
        let deadline = after(timeout);
        loop {
            let mut status = 0;
            // SAFETY: valid out-pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            if r == self.pid {
                self.reaped = true;
                return Ok(if libc::WIFSIGNALED(status) {
                    128 + libc::WTERMSIG(status)
                } else {
                    libc::WEXITSTATUS(status)
                });
            }
            if r < 0 || now_ns() >= deadline {
                return Err(format!("pid {} did not exit within {timeout:?}", self.pid));
            }
            std::thread::sleep(MS);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        close(self.rx);
    }
}

/// Runs `f` on `p`, then SIGKILLs `p` and everything else below the bench and reaps it all,
/// whether `f` succeeded or not.
pub(crate) fn with_proc<T>(mut p: Proc, f: impl FnOnce(&mut Proc) -> Result<T, String>) -> Result<T, String> {
    let result = f(&mut p);
    if !p.reaped {
        kill(p.pid, libc::SIGKILL);
    }
    let swept = sweep();
    drop(p);
    let value = result?;
    swept.map(|()| value)
}

/// Every process below the bench (the bench is a subreaper, so orphans stay below it).
pub(crate) fn descendants() -> Vec<Pid> {
    descendants_of(getpid()).into_iter().map(|(pid, _)| pid).collect()
}

fn reap_any() {
    // SAFETY: waitpid with a null status pointer is allowed.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

/// SIGKILLs and reaps everything below the bench; an error if something survives 20 s.
pub(crate) fn sweep() -> Result<(), String> {
    let deadline = after(20 * SEC);
    loop {
        let left = descendants();
        for &pid in &left {
            kill(pid, libc::SIGKILL);
        }
        reap_any();
        if left.is_empty() {
            return Ok(());
        }
        if now_ns() >= deadline {
            return Err(format!("{} processes survived SIGKILL: {:?}", left.len(), &left[..left.len().min(8)]));
        }
        std::thread::sleep(2 * MS);
    }
}
