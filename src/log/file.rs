//! A logger that appends to a file and reopens it on request, for log rotation.

use std::fmt;
use std::io;
use std::os::fd::IntoRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering::AcqRel, Ordering::Acquire};

use super::{Level, Logger, write_line};
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
        if level <= self.level {
            write_line(self.fd.load(Acquire), level, args);
        }
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

#[cfg(test)]
mod tests {
    use std::fs;
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

    use super::*;

    /// A fresh, empty directory of its own for each test.
    fn temp_dir(name: &str) -> PathBuf {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Relaxed);
        let dir = std::env::temp_dir().join(format!("sisyphus-file-logger-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The `LEVEL message` of each line of `path`, after checking the timestamp and pid in front.
    /// Skips notices of lines dropped elsewhere in this test process (the count is shared).
    fn lines(path: &Path) -> Vec<String> {
        let text = fs::read_to_string(path).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
        let pid = format!(" {} ", std::process::id());
        let lines = text.lines().filter(|line| !line.contains("log lines dropped"));
        lines
            .map(|line| {
                let (stamp, rest) = line.split_at(24);
                assert!(stamp.len() == 24 && stamp.as_bytes()[10] == b'T' && stamp.ends_with('Z'), "{line}");
                rest.strip_prefix(pid.as_str()).unwrap_or_else(|| panic!("no pid: {line}")).to_string()
            })
            .collect()
    }

    #[test]
    fn lines_land_one_per_line_at_the_level_or_above() {
        let dir = temp_dir("lines");
        let path = dir.join("app.log");
        let logger = FileLogger::new(&path).unwrap().with_level(Level::Warn);
        logger.log(Level::Warn, format_args!("worker {} failed", 3));
        logger.log(Level::Info, format_args!("not kept"));
        logger.log(Level::Error, format_args!("two\nlines?"));
        assert_eq!(lines(&path), ["WARN worker 3 failed", "ERROR two\\nlines?"]);
        drop(logger);
        // Appends to what is there.
        FileLogger::new(&path).unwrap().log(Level::Info, format_args!("again"));
        assert_eq!(lines(&path).len(), 3);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn after_a_rotation_reopen_writes_to_a_new_file_at_the_path() {
        let dir = temp_dir("rotation");
        let (path, rotated) = (dir.join("app.log"), dir.join("app.log.1"));
        let logger = FileLogger::new(&path).unwrap();
        logger.log(Level::Info, format_args!("before"));
        fs::rename(&path, &rotated).unwrap();
        logger.log(Level::Info, format_args!("between"));
        logger.reopen();
        logger.log(Level::Info, format_args!("after"));
        assert_eq!(lines(&rotated), ["INFO before", "INFO between"]);
        assert_eq!(lines(&path), ["INFO after"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_reopen_keeps_the_old_file_and_says_so() {
        let dir = temp_dir("failed");
        let (sub, rotated) = (dir.join("sub"), dir.join("app.log.1"));
        fs::create_dir(&sub).unwrap();
        let logger = FileLogger::new(sub.join("app.log")).unwrap();
        logger.log(Level::Info, format_args!("one"));
        fs::rename(sub.join("app.log"), &rotated).unwrap();
        fs::remove_dir(&sub).unwrap();
        logger.reopen();
        logger.log(Level::Info, format_args!("two"));
        let seen = lines(&rotated);
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(seen[0], "INFO one");
        assert!(seen[1].starts_with("ERROR cannot reopen log file ") && seen[1].contains("sub/app.log"), "{seen:?}");
        assert_eq!(seen[2], "INFO two");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_relative_path_is_made_absolute_at_new() {
        // No chdir here, which would move the other tests' threads too: a relative path from
        // the current directory up to the root and down to the temp dir.
        let dir = temp_dir("relative");
        let cwd = std::env::current_dir().unwrap();
        let up: PathBuf = cwd.components().skip(1).map(|_| "..").collect();
        let relative = up.join(dir.strip_prefix("/").unwrap()).join("app.log");
        assert!(relative.is_relative());
        let logger = FileLogger::new(&relative).unwrap();
        assert!(logger.path().is_absolute());
        assert_eq!(logger.path(), cwd.join(&relative));
        logger.log(Level::Info, format_args!("found"));
        assert_eq!(lines(&dir.join("app.log")), ["INFO found"]);
        fs::remove_dir_all(dir).unwrap();
    }
}
