//! Wording shared by the master's and the workers' log lines: durations, exits, counts.

use std::fmt;
use std::time::Duration;

use crate::sys::{self, Exit, Pid};

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

/// What the log lines call a perform (plural: add an `s`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Noun {
    /// The library's word: `perform 3 starts`, `perform child 7295 exited with code 3`.
    #[default]
    Perform,
    /// The `sisyphus` command's, whose users run a program: `run 3 starts`,
    /// `run (pid 7295) exited with code 3`.
    Run,
}

impl Noun {
    /// What runs a forking perform: `perform child`, `run`.
    pub fn child(self) -> &'static str {
        match self {
            Noun::Perform => "perform child",
            Noun::Run => "run",
        }
    }
}

impl fmt::Display for Noun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Noun::Perform => "perform",
            Noun::Run => "run",
        })
    }
}

/// A forking perform's child by its pid: `perform child 7295`, `run (pid 7295)`.
pub struct Child(pub Noun, pub Pid);

impl fmt::Display for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Noun::Perform => write!(f, "perform child {}", self.1),
            Noun::Run => write!(f, "run (pid {})", self.1),
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
