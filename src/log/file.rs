//! A logger that appends to a file and reopens it on request, for log rotation.

use std::fmt;
use std::io;
use std::os::fd::IntoRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering::AcqRel, Ordering::Acquire};

use super::{Level, Logger, line, write_line};
use crate::sys;

/// Appends each event as one line to a file, with a single `write(2)`, in the format of
/// [`StderrLogger`](crate::StderrLogger): `2026-11-28T09:15:02.123Z 4711 INFO worker 0
/// started`. Events less serious than its level are dropped; the default level is
/// [`Level::Info`].
///
/// The file is opened for appending (created if missing, mode 0644 less the umask,
/// close-on-exec), so lines from the master and its workers, which share the descriptor,
/// never overwrite or interleave with each other. Like `StderrLogger`, it never blocks: a
/// line the file cannot take at once is dropped, counted and reported later.
///
/// A line a full disk or an I/O error keeps out is dropped too, and counted. The part of it
/// the disk took, if any, is ended before the next line that gets through (at worst leaving a
/// blank line), so that next line is never glued to it; lines of another process sharing the
/// file can still be, if that process wrote nothing while the disk was full. The first failed
/// line since lines last got through is also said on standard error, once per process: `cannot
/// write to log file PATH: ERROR` (where a daemon's stderr is the log file itself, that is
/// lost too).
///
/// [`reopen`](Logger::reopen) opens the path again and swaps the new descriptor in, then
/// closes the old one: what a log rotation tool should trigger once it has renamed the file
/// away. If the path cannot be opened, the logger says so in one ERROR line and keeps
/// writing to the file it had. The path is made absolute by [`new`](FileLogger::new),
/// against the current directory at that time, so a later `chdir` does not move it.
///
/// Across `fork`: a forked worker inherits the descriptor and writes to the same file. A
/// `reopen` in the master reopens only the master's descriptor; each process must call
/// `reopen` on its own logger to follow a rotation, and until it does its lines go to the
/// renamed file. The crate calls a logger from one thread only; `log` on one thread during a
/// `reopen` on another could write to the descriptor just closed.
#[derive(Debug)]
pub struct FileLogger {
    path: PathBuf,
    fd: AtomicI32,
    level: Level,
}

impl FileLogger {
    /// Opens `path` for appending, creating it if missing, at level [`Level::Info`].
    ///
    /// # Errors
    /// When the current directory cannot be read (for a relative `path`), or the file cannot
    /// be opened or created: a missing directory, no permission, no descriptor free. `?`
    /// turns it into [`Error::Io`](crate::Error::Io) in a `main` that returns
    /// `Result<(), sisyphus::Error>`.
    pub fn new(path: impl AsRef<Path>) -> io::Result<FileLogger> {
        let path = std::path::absolute(path.as_ref())?;
        let fd = sys::open_append(&path)?.into_raw_fd();
        Ok(FileLogger { path, fd: AtomicI32::new(fd), level: Level::Info })
    }

    /// Keeps events at `level` and more serious ones.
    pub fn with_level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// The absolute path the logger opens.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Logger for FileLogger {
    fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        if level <= self.level
            && let Some(e) = write_line(self.fd.load(Acquire), level, args)
        {
            let why = line(Level::Error, format_args!("cannot write to log file {}: {e}", self.path.display()));
            let _ = sys::write_nowait(2, why.as_bytes());
        }
    }

    fn enabled(&self, level: Level) -> bool {
        level <= self.level
    }

    fn file(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn reopen(&self) {
        match sys::open_append(&self.path) {
            Ok(new) => sys::close(self.fd.swap(new.into_raw_fd(), AcqRel)),
            Err(e) => self.log(
                Level::Error,
                format_args!("cannot reopen log file {}: {e}; still writing to the old file", self.path.display()),
            ),
        }
    }
}

impl Drop for FileLogger {
    fn drop(&mut self) {
        sys::close(*self.fd.get_mut());
    }
}
