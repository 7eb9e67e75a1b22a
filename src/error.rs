//! The one error type of the API, and what a stop reports.

use std::fmt;
use std::io;
use std::time::Duration;

/// Why the master could not start, or stopped on its own.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A setting is out of range; nothing was forked. The text says which and why.
    Config(String),
    /// The process has this many threads. Forking it would copy locks held by threads that
    /// do not exist in the child; see [`Master::allow_threads`](crate::Master::allow_threads).
    Threads(usize),
    /// A system call the master depends on failed (what it was doing, and the OS error); or,
    /// through `From<io::Error>`, an I/O error of the caller's own (`"I/O error"`).
    Io(&'static str, io::Error),
    /// Workers died more than `restarts` times within `within`; the master stopped the rest
    /// so that an outer supervisor (systemd, Kubernetes) can decide what to do.
    RestartLimit {
        /// The configured number of restarts.
        restarts: u32,
        /// The configured window.
        within: Duration,
        /// How the last one ended: the slot, the exit code or signal, and why `setup` failed
        /// where it said, as in `worker 1 failed to start: exited with code 3 (connection
        /// refused)`.
        last: String,
    },
    /// Another process holds the pidfile's lock: another master runs. Nothing was forked.
    PidfileHeld {
        /// The pidfile.
        path: std::path::PathBuf,
        /// The pid written in it, when it could be read.
        pid: Option<u32>,
    },
    /// A daemon's worker failed to start (or died) before every worker was up, so the daemon
    /// stopped and its launcher exited non-zero. How it ended is worded as in
    /// [`RestartLimit`](Error::RestartLimit)'s `last`.
    StartFailed(String),
    /// Performs failed this many times in a row across the pool (`Err`, panic, non-zero exit,
    /// killed, timed out), reaching [`Master::max_failures`](crate::Master::max_failures): the
    /// master stopped the pool gracefully, so that an outer supervisor sees a broken job.
    Failing {
        /// Failed performs in a row when the master gave up (at least the limit).
        failures: u64,
        /// The last of them: `worker 1: exited with code 1`.
        last: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(why) => write!(f, "invalid configuration: {why}"),
            Error::Threads(n) => write!(
                f,
                "refusing to fork: the process has {n} threads, and forking a multi-threaded process can deadlock the child"
            ),
            Error::Io(what, e) => write!(f, "{what}: {e}"),
            Error::RestartLimit { restarts, within, last } => {
                write!(f, "workers died more than {restarts} times within {within:?}; gave up; last: {last}")
            }
            Error::PidfileHeld { path, pid: Some(pid) } => {
                write!(f, "pidfile {} is locked by pid {pid}: another master is running", path.display())
            }
            Error::PidfileHeld { path, pid: None } => {
                write!(f, "pidfile {} is locked by another process", path.display())
            }
            Error::StartFailed(last) => write!(f, "a worker failed before every worker was up: {last}"),
            Error::Failing { failures, last } => {
                write!(f, "{failures} performs failed in a row; gave up; last: {last}")
            }
        }
    }
}

impl From<io::Error> for Error {
    /// An I/O error of the caller's own, such as opening a log file with
    /// [`FileLogger::new`](crate::FileLogger::new), so that `?` works in a `main` that returns
    /// `Result<(), sisyphus::Error>`. It becomes [`Error::Io`] with the context `"I/O error"`.
    ///
    /// ```
    /// fn main() -> Result<(), sisyphus::Error> {
    ///     let dir = std::env::temp_dir().join("sisyphus-from-io-doctest");
    ///     std::fs::create_dir_all(&dir)?;
    ///     let _log = sisyphus::FileLogger::new(dir.join("a.log"))?;
    ///     let missing = sisyphus::FileLogger::new(dir.join("no/such/dir/a.log"));
    ///     let e = sisyphus::Error::from(missing.unwrap_err());
    ///     assert!(e.to_string().starts_with("I/O error: "), "{e}");
    ///     std::fs::remove_dir_all(dir)?;
    ///     Ok(())
    /// }
    /// ```
    fn from(e: io::Error) -> Self {
        Error::Io("I/O error", e)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(_, e) => Some(e),
            _ => None,
        }
    }
}

/// How a stop went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shutdown {
    /// Worker process groups that were SIGKILLed rather than exiting when asked: at an
    /// immediate stop, or still running at the stop timeout (of this stop, or of an earlier
    /// retirement by TTOU).
    pub killed: usize,
}

impl Shutdown {
    /// Whether anything had to be force-killed.
    pub fn forced(&self) -> bool {
        self.killed > 0
    }
}

/// Why forking a worker failed.
#[derive(Debug)]
pub(crate) enum ForkError {
    /// The process has other threads: a child could inherit a lock that none of them will
    /// ever release.
    Threads(usize),
    /// The thread count could not be read, so forking is not known to be safe.
    ThreadsUnknown(io::Error),
    /// `fork` itself failed (EAGAIN under a process limit, ENOMEM).
    Os(io::Error),
}

impl fmt::Display for ForkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForkError::Threads(n) => write!(f, "the process has {n} threads, and forking it could deadlock the child"),
            ForkError::ThreadsUnknown(e) => write!(f, "cannot tell whether the process has other threads ({e})"),
            ForkError::Os(e) => write!(f, "{e}"),
        }
    }
}

impl ForkError {
    /// `Ok` when the process is single-threaded; waits up to 20 ms for a thread that was just
    /// joined to be gone. Fails closed: a count that cannot be read refuses the fork.
    pub(crate) fn unless_single_threaded() -> Result<(), ForkError> {
        let mut tries = 0;
        loop {
            match crate::sys::thread_count() {
                Ok(n) if n <= 1 => return Ok(()),
                Ok(n) if tries == 20 => return Err(ForkError::Threads(n)),
                Ok(_) => crate::sys::sleep(Duration::from_millis(1)),
                Err(e) => return Err(ForkError::ThreadsUnknown(e)),
            }
            tries += 1;
        }
    }
}

impl From<ForkError> for Error {
    fn from(e: ForkError) -> Self {
        match e {
            ForkError::Threads(n) => Error::Threads(n),
            ForkError::ThreadsUnknown(e) => Error::Io("counting this process's threads before forking", e),
            ForkError::Os(e) => Error::Io("forking a worker", e),
        }
    }
}
