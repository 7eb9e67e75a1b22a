//! The word log lines use for a perform: the library's, or the `sisyphus` command's, whose
//! users run a program.

use std::fmt;

use crate::sys::Pid;

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
    /// The setting that gives up after failures in a row: the library's name, or the
    /// command's option.
    pub fn max_failures(self) -> &'static str {
        match self {
            Noun::Perform => "max_failures",
            Noun::Run => "--max-failures",
        }
    }

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
