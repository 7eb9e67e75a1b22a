//! A pidfile held by an `flock` lock, not by `kill(pid, 0)`: in a container pids start again
//! from 1, so a stale file can name a live stranger, while the kernel drops a lock the moment
//! its holder dies, SIGKILL included.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libc::c_int;

use super::fd::{MasterFd, dup_above_stdio};
use super::{check, check_fd, getpid};

/// How long a refused start waits, at most, for the lock's holder to write its pid.
const SETTLE: Duration = Duration::from_millis(20);
/// How many times the path may be replaced under us before we give up.
const TRIES: usize = 100;

/// The lock on a pidfile, held until dropped; the file is then removed if it is still ours.
/// Its descriptor is closed in every forked worker, so no worker can hold the lock on after
/// the master, nor release it (`LOCK_UN` on a shared open file would release it for all).
#[derive(Debug)]
pub struct Pidfile {
    fd: MasterFd,
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
    /// opened, locked or written, is not a plain file with one link (a hard link to another
    /// file would be truncated), or keeps being replaced. A file locked but not written (a full
    /// disk) is removed: it would hold no pid, or a stale one.
    pub fn lock(path: &Path) -> io::Result<Result<Pidfile, Held>> {
        // A NUL byte in it is an `InvalidInput` error.
        let c_path = CString::new(path.as_os_str().as_bytes())?;
        for _ in 0..TRIES {
            // Dropped, and so closed, on every way out but success.
            let file = open(&c_path)?;
            let fd = file.as_raw_fd();
            let attempt = SystemTime::now();
            // SAFETY: flock on a descriptor we own.
            if let Err(e) = check(unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) }) {
                return match e.kind() {
                    io::ErrorKind::WouldBlock => Ok(Err(Held(holder(fd, attempt)))),
                    _ => Err(e),
                };
            }
            if !same_file(fd, &c_path) {
                continue;
            }
            plain(fd)?;
            let held = Pidfile { fd: MasterFd::new(file), c_path };
            // A pid that cannot be written (a full disk): dropping `held` removes the file.
            write_pid(fd)?;
            return Ok(Ok(held));
        }
        Err(io::Error::other("the path keeps being replaced while we lock it"))
    }
}

impl Drop for Pidfile {
    /// Removes the file while the lock is still held, and only if the path still names it:
    /// someone may have replaced it, and their file is not ours to remove. Then the field
    /// closes the file, which releases the lock.
    fn drop(&mut self) {
        if same_file(self.fd.as_raw_fd(), &self.c_path) {
            // SAFETY: a NUL-terminated path.
            unsafe { libc::unlink(self.c_path.as_ptr()) };
        }
    }
}

fn open(c_path: &CString) -> io::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    // SAFETY: a NUL-terminated path that outlives the call; O_CREAT takes the mode; open
    // returns a new descriptor, or -1.
    match unsafe { check_fd(libc::open(c_path.as_ptr(), flags, 0o644 as libc::c_uint)) } {
        Ok(opened) => dup_above_stdio(opened),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            Err(io::Error::new(e.kind(), "a symbolic link, which a pidfile must not be"))
        }
        Err(e) => Err(e),
    }
}

/// The pid the lock's holder wrote. A holder that has just won a race may not have replaced a
/// stale pid yet: unless the file changed since our `attempt`, give it up to `SETTLE` to write
/// its own (in a long-running holder's file nothing changes, and the pid read at the end is
/// right).
fn holder(fd: c_int, attempt: SystemTime) -> Option<u32> {
    let attempt = attempt.duration_since(UNIX_EPOCH).unwrap_or_default();
    let deadline = Instant::now() + SETTLE;
    loop {
        let fresh = stat_fd(fd).is_ok_and(|st| modified(&st) >= Some(attempt));
        let pid = read_pid(fd);
        if fresh && pid.is_some() || Instant::now() >= deadline {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn read_pid(fd: c_int) -> Option<u32> {
    let mut buf = [0u8; 24];
    // SAFETY: reading into a valid stack buffer of the given length.
    let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    let text = std::str::from_utf8(buf.get(..usize::try_from(n).ok()?)?).ok()?;
    text.trim().parse().ok()
}

fn write_pid(fd: c_int) -> io::Result<()> {
    let line = format!("{}\n", getpid());
    // SAFETY: ftruncate and pwrite on a descriptor we own, from a valid buffer.
    check(unsafe { libc::ftruncate(fd, 0) })?;
    // SAFETY: as above.
    let n = unsafe { libc::pwrite(fd, line.as_ptr().cast(), line.len(), 0) };
    match n {
        n if n == line.len() as isize => Ok(()),
        -1 => Err(io::Error::last_os_error()),
        _ => Err(io::ErrorKind::WriteZero.into()),
    }
}

/// Refuses what must not be truncated: anything but a regular file with a single link.
fn plain(fd: c_int) -> io::Result<()> {
    let st = stat_fd(fd)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_nlink != 1 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file with a single link"));
    }
    Ok(())
}

/// Whether `path` names the file open on `fd` (without following a symlink).
fn same_file(fd: c_int, path: &CString) -> bool {
    // SAFETY: an all-zero `stat` is a valid value for lstat to overwrite.
    let mut at_path: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid `stat`.
    let linked = check(unsafe { libc::lstat(path.as_ptr(), &mut at_path) }).is_ok();
    linked && stat_fd(fd).is_ok_and(|ours| (ours.st_dev, ours.st_ino) == (at_path.st_dev, at_path.st_ino))
}

fn stat_fd(fd: c_int) -> io::Result<libc::stat> {
    // SAFETY: an all-zero `stat` is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on a descriptor we own into a valid `stat`.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

/// When the file's content last changed, since the epoch; `None` before it.
fn modified(st: &libc::stat) -> Option<Duration> {
    let secs = u64::try_from(st.st_mtime).ok()?;
    Some(Duration::new(secs, u32::try_from(st.st_mtime_nsec).ok()?))
}
