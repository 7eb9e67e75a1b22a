//! Logging: a one-method trait, a stderr logger and a silent one.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::sys;

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
    /// Detail: reaped strangers, restored signal handlers.
    Debug,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Where the master and its workers send their log lines. Called from the master, the
/// workers and the perform children, never from a signal handler.
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
}

impl<F: Fn(Level, fmt::Arguments<'_>)> Logger for F {
    fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        self(level, args)
    }
}

/// Writes each event as one line to standard error with a single `write(2)`, so lines from
/// many processes never interleave: `2026-11-28T09:15:02.123Z 4711 INFO worker 0 started`.
/// Events less serious than its level are dropped; the default level is [`Level::Info`].
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
            let mut line = Line { buf: [0; 1024], len: 0 };
            let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            format_line(&mut line, since_epoch.as_millis() as u64, sys::getpid(), level, args);
            sys::write_stderr(&line.buf[..line.len]);
        }
    }
}

/// Drops every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullLogger;

impl Logger for NullLogger {
    fn log(&self, _: Level, _: fmt::Arguments<'_>) {}
}

/// A fixed stack buffer that truncates instead of allocating.
struct Line {
    buf: [u8; 1024],
    len: usize,
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Keep the last byte for the newline.
        let room = self.buf.len() - 1 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

fn format_line(line: &mut Line, unix_ms: u64, pid: sys::Pid, level: Level, args: fmt::Arguments<'_>) {
    use fmt::Write;
    let (secs, ms) = (unix_ms / 1000, unix_ms % 1000);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    let _ = write!(
        line,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z {pid} {level} {args}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
    line.buf[line.len] = b'\n';
    line.len += 1;
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard Hinnant's
/// well-known algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(unix_ms: u64, args: fmt::Arguments<'_>) -> String {
        let mut line = Line { buf: [0; 1024], len: 0 };
        format_line(&mut line, unix_ms, 42, Level::Warn, args);
        String::from_utf8(line.buf[..line.len].to_vec()).unwrap()
    }

    #[test]
    fn line_has_utc_timestamp_pid_level_and_message() {
        // 2026-11-28T09:15:02.123Z
        let ms = 1_795_857_302_123;
        assert_eq!(
            render(ms, format_args!("worker {} failed", 3)),
            "2026-11-28T09:15:02.123Z 42 WARN worker 3 failed\n"
        );
        assert_eq!(render(0, format_args!("x")), "1970-01-01T00:00:00.000Z 42 WARN x\n");
        // A leap day.
        assert_eq!(&render(951_782_400_000, format_args!(""))[..10], "2000-02-29");
    }

    #[test]
    fn long_lines_are_truncated_but_still_end_in_a_newline() {
        let long = "x".repeat(5000);
        let out = render(0, format_args!("{long}"));
        assert_eq!(out.len(), 1024);
        assert!(out.ends_with("x\n"));
    }

    #[test]
    fn closures_are_loggers_and_levels_order_by_severity() {
        let seen = std::cell::RefCell::new(Vec::new());
        let logger = |level: Level, args: fmt::Arguments<'_>| seen.borrow_mut().push(format!("{level} {args}"));
        logger.log(Level::Error, format_args!("boom {}", 1));
        assert_eq!(seen.borrow().as_slice(), ["ERROR boom 1"]);
        assert!(Level::Error < Level::Warn && Level::Warn < Level::Info && Level::Info < Level::Debug);
    }
}
