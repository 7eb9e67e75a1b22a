//! A pidfile held by an `flock` lock, not by `kill(pid, 0)`: in a container pids start again
//! from 1, so a stale file can name a live stranger, while the kernel drops a lock the moment
//! its holder dies, SIGKILL included.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libc::c_int;

use super::fd::{close, dup_above_stdio, forget_master_fd, remember_master_fd};
use super::{check, getpid};

/// How long a refused start waits, at most, for the lock's holder to write its pid.
const SETTLE: Duration = Duration::from_millis(20);

/// The lock on a pidfile, held until dropped; the file is then removed if it is still ours.
/// Its descriptor is closed in every forked worker, so no worker can hold the lock on after
/// the master, nor release it (`LOCK_UN` on a shared open file would release it for all).
#[derive(Debug)]
pub struct Pidfile {
    fd: c_int,
    c_path: CString,
}

/// The file is locked by another process, which it names (when it could be read).
#[derive(Debug)]
pub struct Held(pub Option<u32>);

impl Pidfile {
    /// Locks `path` in place and writes our pid into it. Opens (creating with mode 0644)
    /// without following a symlink, takes the lock without waiting, and only then truncates:
    /// a loser never wipes the winner's pid. If the path was replaced or removed between the
    /// open and the lock, the lock is on a file nobody will look at: start again.
    ///
    /// # Errors
    /// `Ok(Err(Held))` when another process holds the lock; `Err` when the file cannot be
    /// opened, locked or written.
    pub fn lock(path: &Path) -> io::Result<Result<Pidfile, Held>> {
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
        loop {
            let flags = libc::O_RDWR | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOFOLLOW;
            // SAFETY: a NUL-terminated path that outlives the call; O_CREAT takes the mode.
            let opened = check(unsafe { libc::open(c_path.as_ptr(), flags, 0o644 as libc::c_uint) });
            let fd = dup_above_stdio(opened.map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => io::Error::new(e.kind(), "a symbolic link, which a pidfile must not be"),
                _ => e,
            })?)?;
            let file = Pidfile { fd, c_path: c_path.clone() };
            let attempt = SystemTime::now();
            // SAFETY: flock on a descriptor we own.
            if let Err(e) = check(unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) }) {
                let holder = if e.kind() == io::ErrorKind::WouldBlock { Some(file.holder(attempt)) } else { None };
                file.abandon();
                return match holder {
                    Some(pid) => Ok(Err(Held(pid))),
                    None => Err(e),
                };
            }
            if !file.still_at_path() {
                file.abandon();
                continue;
            }
            if let Err(e) = file.write_pid() {
                file.abandon();
                return Err(e);
            }
            remember_master_fd(fd);
            return Ok(Ok(file));
        }
    }

    /// Whether the path still names the file we hold open.
    fn still_at_path(&self) -> bool {
        match (stat_fd(self.fd), stat_path(&self.c_path)) {
            (Ok(ours), Ok(now)) => ours == now,
            _ => false,
        }
    }

    /// The pid the lock's holder wrote. A holder that has just won a race may not have
    /// replaced a stale pid yet: unless the file changed since our `attempt`, give it up to
    /// `SETTLE` to write its own (in a long-running holder's file, nothing changes, and the pid
    /// read at the end is right).
    fn holder(&self, attempt: SystemTime) -> Option<u32> {
        let deadline = Instant::now() + SETTLE;
        loop {
            let fresh = modified(self.fd).is_ok_and(|t| t >= attempt);
            let pid = self.read_pid();
            if fresh && pid.is_some() || Instant::now() >= deadline {
                return pid;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn read_pid(&self) -> Option<u32> {
        let mut buf = [0u8; 24];
        // SAFETY: reading into a valid stack buffer of the given length.
        let n = unsafe { libc::pread(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        let text = std::str::from_utf8(buf.get(..usize::try_from(n).ok()?)?).ok()?;
        text.trim().parse().ok()
    }

    fn write_pid(&self) -> io::Result<()> {
        let line = format!("{}\n", getpid());
        // SAFETY: ftruncate and pwrite on a descriptor we own, from a valid buffer.
        check(unsafe { libc::ftruncate(self.fd, 0) })?;
        // SAFETY: as above.
        let n = unsafe { libc::pwrite(self.fd, line.as_ptr().cast(), line.len(), 0) };
        match n {
            n if n == line.len() as isize => Ok(()),
            -1 => Err(io::Error::last_os_error()),
            _ => Err(io::ErrorKind::WriteZero.into()),
        }
    }

    /// Closes without removing the file (and so without dropping).
    fn abandon(self) {
        close(self.fd);
        std::mem::forget(self);
    }
}

impl Drop for Pidfile {
    /// Removes the file while the lock is still held, and only if the path still names it:
    /// someone may have replaced it, and their file is not ours to remove.
    fn drop(&mut self) {
        if self.still_at_path() {
            // SAFETY: a NUL-terminated path.
            unsafe { libc::unlink(self.c_path.as_ptr()) };
        }
        forget_master_fd(self.fd);
        close(self.fd);
    }
}

/// When an open file's content last changed.
fn modified(fd: c_int) -> io::Result<SystemTime> {
    // SAFETY: an all-zero `stat` is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on a descriptor we own into a valid `stat`.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(UNIX_EPOCH + Duration::new(st.st_mtime as u64, st.st_mtime_nsec as u32))
}

/// Device and inode of an open file.
fn stat_fd(fd: c_int) -> io::Result<(u64, u64)> {
    // SAFETY: an all-zero `stat` is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on a descriptor we own into a valid `stat`.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok((st.st_dev as u64, st.st_ino as u64))
}

/// Device and inode of what `path` names, without following a symlink.
fn stat_path(path: &CString) -> io::Result<(u64, u64)> {
    // SAFETY: an all-zero `stat` is a valid value for lstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid `stat`.
    check(unsafe { libc::lstat(path.as_ptr(), &mut st) })?;
    Ok((st.st_dev as u64, st.st_ino as u64))
}
