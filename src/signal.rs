//! [`Signal`]: a Unix signal as the API names it, without a dependency on `libc`.

use std::fmt;

use crate::sys;

/// A Unix signal, such as [`Signal::TERM`]. Its number is this system's.
///
/// ```
/// use sisyphus::Signal;
///
/// assert_eq!(Signal::from_name("SIGTERM"), Some(Signal::TERM));
/// assert_eq!(Signal::from_name("term"), Some(Signal::TERM));
/// assert_eq!(Signal::from_raw(Signal::HUP.as_raw()), Some(Signal::HUP));
/// assert_eq!(Signal::from_name("BOGUS"), None);
/// assert_eq!(Signal::WINCH.to_string(), "WINCH");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal(i32);

impl Signal {
    /// Hang-up; to the master, a rolling restart.
    pub const HUP: Signal = Signal(sys::SIGHUP);
    /// Interrupt (Ctrl-C); to the master, a graceful stop.
    pub const INT: Signal = Signal(sys::SIGINT);
    /// Quit; to the master, an immediate stop.
    pub const QUIT: Signal = Signal(sys::SIGQUIT);
    /// Kill, which cannot be caught.
    pub const KILL: Signal = Signal(sys::SIGKILL);
    /// User signal 1; to the master, reopen the logs.
    pub const USR1: Signal = Signal(sys::SIGUSR1);
    /// User signal 2.
    pub const USR2: Signal = Signal(sys::SIGUSR2);
    /// Alarm clock.
    pub const ALRM: Signal = Signal(sys::SIGALRM);
    /// Terminate; to the master, a graceful stop.
    pub const TERM: Signal = Signal(sys::SIGTERM);
    /// Continue a stopped process.
    pub const CONT: Signal = Signal(sys::SIGCONT);
    /// Terminal input for a background process; to the master, one worker more.
    pub const TTIN: Signal = Signal(sys::SIGTTIN);
    /// Terminal output from a background process; to the master, one worker fewer.
    pub const TTOU: Signal = Signal(sys::SIGTTOU);
    /// Window size change.
    pub const WINCH: Signal = Signal(sys::SIGWINCH);

    /// The signal named `name`, as `kill -l` prints it, with or without `SIG`, in any case:
    /// `TERM`, `SIGTERM` and `term` all give [`Signal::TERM`]. `None` for an unknown name.
    pub fn from_name(name: &str) -> Option<Signal> {
        let upper = name.to_ascii_uppercase();
        sys::signal_number(upper.strip_prefix("SIG").unwrap_or(&upper)).map(Signal)
    }

    /// The signal numbered `n` on this system; `None` for a number that names no signal.
    pub fn from_raw(n: i32) -> Option<Signal> {
        (sys::signal_name(n) != "?").then_some(Signal(n))
    }

    /// Its number on this system.
    pub fn as_raw(self) -> i32 {
        self.0
    }
}

impl fmt::Display for Signal {
    /// The name without `SIG`: `TERM`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(sys::signal_name(self.0))
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIG{self}")
    }
}
