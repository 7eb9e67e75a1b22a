//! Logging: the trait, a stderr logger and a file logger that never block, and a silent one.

#[cfg(feature = "log")]
mod facade;
mod file;
mod line;
mod noun;
mod words;

use std::sync::atomic::Ordering::Relaxed;
use std::time::{SystemTime, UNIX_EPOCH};
use std::{fmt, io};

use crate::sys::{self, CUT, DROPPED_LINES};
#[cfg(feature = "log")]
pub use facade::LogFacade;
pub use file::FileLogger;
use line::Line;
pub(crate) use line::civil_from_days;
pub(crate) use noun::{Child, Noun};
pub(crate) use words::{Ended, Human, Workers};

/// How serious a log line is, most serious first: `Error < Warn < Info < Debug`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// A worker or perform child died unasked, a perform overran its timeout, a fork failed.
    Error,
    /// Something failed and will be retried, or had to be forced: a perform's `Err`, a failed
    /// `setup`, a worker killed at the stop timeout.
    Warn,
    /// Life-cycle events: workers started and stopped, scaling, stops.
    Info,
    /// Detail: reaped strangers.
    Debug,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        })
    }
}

/// Where the master and its workers send their log lines, and a job its own
/// ([`Context::log`](crate::Context::log)). Called from the master, the workers and the perform
/// children, each time on its one thread (the one that runs `setup` and `perform`, in a worker),
/// never from a signal handler, so it need not be thread-safe.
///
/// A logger must not block: the master calls it from its loop, and while it blocks the master
/// reaps nothing, enforces no timeout and answers no signal. [`StderrLogger`] drops a line
/// rather than wait for a full pipe. A logger that panics loses that line; the crate catches
/// the panic and goes on. A logger may start no thread: the master refuses to fork while other
/// threads exist (see [`Master::allow_threads`](crate::Master::allow_threads)), and a forking
/// worker, which calls the logger between performs, relies on being single-threaded.
///
/// Any `Fn(Level, fmt::Arguments<'_>)` is a logger:
///
/// ```
/// use sisyphus::{Level, Logger};
/// let logger = |level: Level, args: std::fmt::Arguments<'_>| println!("[{level}] {args}");
/// logger.log(Level::Info, format_args!("worker {} started", 0));
/// ```
pub trait Logger {
    /// Records one event.
    fn log(&self, level: Level, args: fmt::Arguments<'_>);

    /// Whether lines at `level` are kept. The crate asks before it makes lines that cost
    /// something to make, a line at the start and the end of every perform at DEBUG, and makes
    /// them only if so; it logs the others either way and leaves the filtering to `log`. The
    /// default keeps every level but DEBUG.
    fn enabled(&self, level: Level) -> bool {
        level < Level::Debug
    }

    /// Reopens whatever the logger writes to, on request; the default does nothing. Like
    /// [`log`](Logger::log), it must not block.
    ///
    /// A logger that appends to a file opens its path again here, so that after a log rotation
    /// (the file renamed away, then `reopen`) new lines go to a fresh file at the path while
    /// the renamed one keeps the old lines: see [`FileLogger`]. Each process reopens its own
    /// descriptors; a forked process keeps writing where it did until it is asked to.
    fn reopen(&self) {}

    /// The file this logger appends to, if it is one; the default is none. A daemon
    /// ([`Master::daemonize`](crate::Master::daemonize)) points its stdout and stderr there
    /// too, so that what performs print lands beside the log, and points them there again
    /// each time it reopens its log (USR1). Without a file, a daemon's stdout and stderr go to
    /// `/dev/null`. The path should be absolute: a daemon works from `/`.
    fn file(&self) -> Option<&std::path::Path> {
        None
    }
}

impl<F: Fn(Level, fmt::Arguments<'_>)> Logger for F {
    fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        self(level, args)
    }
}

/// Writes each event as one line to standard error with a single `write(2)`, so lines from
/// many processes never interleave: `2026-11-28T09:15:02.123Z 4711 INFO worker 0 started`.
/// Events less serious than its level are dropped; the default level is [`Level::Info`].
///
/// It never blocks. When standard error is a pipe or socket nobody reads (a stuck
/// `| logger`), a line that does not fit is dropped and counted, and the count is logged once
/// lines get through again. It does so without making the descriptor non-blocking for the
/// other processes that share it (Linux: `pwritev2(RWF_NOWAIT)`; elsewhere, and on a
/// terminal, it writes only when `poll` says there is room). A line whose write fails (a full
/// disk, an I/O error) is dropped and counted too, and the next line that gets through comes
/// after a newline that ends whatever part of it was written. Control characters in a message
/// are escaped, so one event is always one line; lines are cut at 1,024 bytes.
#[derive(Clone, Copy, Debug)]
pub struct StderrLogger {
    level: Level,
}

impl StderrLogger {
    /// A logger that keeps events at `level` and more serious ones.
    pub fn new(level: Level) -> Self {
        StderrLogger { level }
    }
}

impl Default for StderrLogger {
    fn default() -> Self {
        StderrLogger::new(Level::Info)
    }
}

impl Logger for StderrLogger {
    fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        if level <= self.level {
            write_line(2, level, args);
        }
    }

    fn enabled(&self, level: Level) -> bool {
        level <= self.level
    }
}

/// Formats one line and writes it to `fd` without blocking. A line that cannot be written is
/// counted, and the count reported before the next line that can. After a write that failed
/// (see [`sys::write_nowait`]), not merely found the output full, that next line is preceded by
/// a newline: the part of a line a full disk took stays on a line of its own, never glued to
/// the next (at worst, a blank line). Returns the error of a write that failed when it is this
/// process's first since its lines last got through.
pub(crate) fn write_line(fd: i32, level: Level, args: fmt::Arguments<'_>) -> Option<io::Error> {
    // Claimed whole (a job's other threads log too), and given back if the notice fails.
    let dropped = DROPPED_LINES.swap(0, Relaxed);
    let mut written = if dropped & CUT != 0 { sys::write_nowait(fd, b"\n") } else { Ok(()) };
    if dropped > 0 && written.is_ok() {
        let why = if dropped & CUT != 0 { "writing failed" } else { "the output was not being read" };
        let notice = line(Level::Warn, format_args!("{} log lines dropped: {why}", dropped & !CUT));
        written = sys::write_nowait(fd, notice.as_bytes());
    }
    if written.is_err() {
        DROPPED_LINES.fetch_or(dropped & CUT, Relaxed);
        DROPPED_LINES.fetch_add(dropped & !CUT, Relaxed);
    }
    let e = written.and_then(|()| sys::write_nowait(fd, line(level, args).as_bytes())).err()?;
    DROPPED_LINES.fetch_add(1, Relaxed);
    (e.kind() != io::ErrorKind::WouldBlock && DROPPED_LINES.fetch_or(CUT, Relaxed) & CUT == 0).then_some(e)
}

/// `message` as a line, stamped now by this process.
fn line(level: Level, message: fmt::Arguments<'_>) -> Line {
    let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    Line::new(unix_ms, sys::getpid(), level, message)
}

/// In a new worker, on its thread: `logger` (the address of the `&dyn Logger` the worker
/// holds) takes the job's lines on this thread, through `JOB_LOGGER`.
///
/// # Safety
/// `*logger` must stay where it is, valid, for the rest of the process's life, its perform
/// children's included: the worker holding it never returns.
pub(crate) unsafe fn set_job_logger(logger: &&dyn Logger) {
    sys::globals::JOB_LOGGER.set(std::ptr::from_ref(logger).cast());
}

/// A job's line: through the worker's logger on the worker's own thread, else to stderr. A
/// logger that panics loses the line; stdio is flushed after it, since a perform child may be
/// forked next.
pub(crate) fn job_log(level: Level, args: fmt::Arguments<'_>) {
    let logger = sys::globals::JOB_LOGGER.get().cast::<&dyn Logger>();
    // SAFETY: null, or the address of a `&dyn Logger` that `set_job_logger` was given on this
    // thread, which its caller promised stays valid for the process's life. Only this thread
    // sees it, so a logger that is not thread-safe is called from one thread only.
    match unsafe { logger.as_ref() } {
        Some(logger) => {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| logger.log(level, args)));
            sys::flush_stdio();
        }
        None => _ = write_line(2, level, args),
    }
}

/// Reopens `logger` (a panic in it is caught), and with `stdio` points stdout and stderr at
/// its file again: a daemon's, whose output goes beside its log. Its own failure is logged by
/// the logger's reopen.
pub(crate) fn reopen(logger: &dyn Logger, stdio: bool) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| logger.reopen()));
    if let Some(path) = logger.file().filter(|_| stdio) {
        let _ = sys::reopen_output(path);
    }
}

/// Drops every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullLogger;

impl Logger for NullLogger {
    fn log(&self, _: Level, _: fmt::Arguments<'_>) {}

    fn enabled(&self, _: Level) -> bool {
        false
    }
}

#[cfg(test)]
mod tests;
