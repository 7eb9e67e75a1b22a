//! Wording shared by the master's and the workers' log lines: durations, exits, counts.

use std::fmt;
use std::time::Duration;

use crate::sys::{self, Exit};

/// "1 worker", "3 workers".
pub struct Workers(pub usize);

impl fmt::Display for Workers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} worker{}", self.0, if self.0 == 1 { "" } else { "s" })
    }
}

/// A duration for humans: `250 ms`, `300.4 ms`, `25 s`, `31.2 s`.
pub struct Human(pub Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        match (d.as_millis(), d.subsec_nanos()) {
            (ms, n) if ms < 1000 && n % 1_000_000 == 0 => write!(f, "{ms} ms"),
            (ms, _) if ms < 1000 => write!(f, "{:.1} ms", d.as_secs_f64() * 1e3),
            (_, 0) => write!(f, "{} s", d.as_secs()),
            _ => write!(f, "{:.1} s", d.as_secs_f64()),
        }
    }
}

/// How a process ended, in words.
pub struct Ended(pub Exit);

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Exit::Code(code) => write!(f, "exited with code {code}"),
            Exit::Signal(sig) => write!(f, "was killed by signal {}", sys::signal_name(sig)),
            Exit::Vanished => f.write_str("was reaped by someone else"),
        }
    }
}
