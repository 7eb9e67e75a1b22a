//! Detaching from the terminal and the session (the classic double fork), and the pipe on
//! which the daemon tells its launcher whether it came up.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use libc::c_int;

use super::fd::{MasterFd, dup_above_stdio, open_append};
use super::{Disposition, check, check_fd, exit, flush_stdio, set_disposition};

/// What the daemon writes when every initial worker is up.
const READY: &[u8] = b"ready\n";

/// The daemon's end of the pipe its launcher waits on. Only the master holds it: it is closed
/// in every forked worker, so the launcher learns of the master's death at once.
#[derive(Debug)]
pub struct ReadyPipe(MasterFd);

impl ReadyPipe {
    /// Tells the launcher the daemon is up: it exits 0.
    pub fn ready(self) {
        self.send(READY);
    }

    /// Tells the launcher the daemon failed, and why: it prints `why` and exits 1.
    pub fn failed(self, why: &str) {
        self.send(why.as_bytes());
    }

    fn send(self, bytes: &[u8]) {
        // The launcher may be gone; that must not kill us if SIGPIPE is at its default.
        let old = set_disposition(libc::SIGPIPE, Disposition::Ignore, 0);
        write_all(self.0.as_raw_fd(), bytes);
        if let Ok(old) = old {
            old.restore(libc::SIGPIPE);
        }
    }
}

/// Writes `bytes` to `fd`, retrying after interruptions, giving up on an error.
fn write_all(fd: c_int, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writing from a valid buffer to a pipe we own.
        match unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) } {
            n if n > 0 => bytes = &bytes[n as usize..],
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
}

/// Becomes a daemon: forks, and the caller's process becomes the launcher, which never
/// returns: it waits until the daemon reports on the pipe (or dies), then exits 0 if it came
/// up, else 1 with the daemon's error on stderr. The child starts a new session and forks
/// again, so the daemon (the grandchild, which returns here) is not a session leader and can
/// never acquire a controlling terminal. The daemon then works from `/`, with umask 022,
/// stdin on `/dev/null`, and stdout and stderr appended to `output` (or on `/dev/null`),
/// pointed there with `dup2`, never by closing them.
///
/// # Safety
/// The process must be single-threaded: both children run arbitrary Rust code.
///
/// # Errors
/// In the caller, before anything forked: `output` or `/dev/null` cannot be opened (the
/// error then names `/dev/null`), or no pipe can be made.
pub unsafe fn daemonize(output: Option<&Path>) -> io::Result<ReadyPipe> {
    let null = open_null()?;
    let out = output.map(open_append).transpose()?;
    let (reader, writer) = io::pipe()?;
    let reader = dup_above_stdio(reader.into())?;
    let writer = dup_above_stdio(writer.into())?;
    flush_stdio();
    // SAFETY: the caller guarantees a single-threaded process.
    match check(unsafe { libc::fork() })? {
        0 => {
            drop(reader);
            // SAFETY: setsid and fork in the child; the grandchild carries on, the child ends
            // (writing a static message and exiting are async-signal-safe).
            unsafe {
                libc::setsid();
                match libc::fork() {
                    0 => {}
                    -1 => {
                        write_all(writer.as_raw_fd(), b"daemonizing: the second fork failed");
                        libc::_exit(1)
                    }
                    _ => libc::_exit(0),
                }
            }
            detach(null, out);
            Ok(ReadyPipe(MasterFd::new(writer)))
        }
        child => {
            drop((null, out, writer));
            // The child exits at once, leaving the daemon to init (or a subreaper).
            let mut status = 0;
            // SAFETY: waitpid on our own child into a valid int.
            while unsafe { libc::waitpid(child, &mut status, 0) } == -1
                && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
            {}
            launcher(reader.into())
        }
    }
}

/// The launcher: waits for the daemon's report, and exits with it.
fn launcher(mut pipe: io::PipeReader) -> ! {
    let mut report = Vec::new();
    let _ = pipe.read_to_end(&mut report);
    if report == READY {
        exit(0);
    }
    let text = String::from_utf8_lossy(&report);
    let why = if text.is_empty() { "the daemon died before every worker was up" } else { text.trim_end() };
    // As programs name themselves in errors: `sweep: daemon failed to start: ...`.
    let name = std::env::args_os().next().map(std::path::PathBuf::from);
    // Whether or not stderr takes it (a full disk, a reader gone): the exit status says it.
    let _ = match name.as_deref().and_then(|p| p.file_name()) {
        Some(name) => writeln!(io::stderr(), "{}: {why}", name.to_string_lossy()),
        None => writeln!(io::stderr(), "{why}"),
    };
    exit(1)
}

/// In the daemon: the root directory, umask 022, stdin on `null`, stdout and stderr on `out`
/// (or `null`).
fn detach(null: OwnedFd, out: Option<OwnedFd>) {
    let out = out.as_ref().unwrap_or(&null);
    // SAFETY: chdir to a NUL-terminated path; umask and dup2 on descriptors we own.
    unsafe {
        libc::chdir(c"/".as_ptr());
        libc::umask(0o022);
        libc::dup2(null.as_raw_fd(), 0);
        libc::dup2(out.as_raw_fd(), 1);
        libc::dup2(out.as_raw_fd(), 2);
    }
}

/// `/dev/null`, for reading and writing; an error that says a daemon needs it.
fn open_null() -> io::Result<OwnedFd> {
    // SAFETY: a NUL-terminated path; open returns a new descriptor, or -1.
    let null = unsafe { check_fd(libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC)) };
    dup_above_stdio(null.map_err(|e| io::Error::new(e.kind(), format!("/dev/null: {e}; a daemon needs it")))?)
}

/// Re-points stdout and stderr at `path`, appended to: a daemon whose log was rotated (USR1).
///
/// # Errors
/// When `path` cannot be opened; stdout and stderr are then left as they were.
pub fn reopen_output(path: &Path) -> io::Result<()> {
    let fd = open_append(path)?;
    // SAFETY: dup2 of a descriptor we own onto 1 and 2.
    unsafe {
        libc::dup2(fd.as_raw_fd(), 1);
        libc::dup2(fd.as_raw_fd(), 2);
    }
    Ok(())
}
