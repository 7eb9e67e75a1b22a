//! The master's settings and the limits they must respect, checked before anything forks.

use std::time::Duration;

use super::pace::Pacing;
use crate::Error;
use crate::sys::{SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG};

/// The largest pool: the size of the shared heartbeat table, and far past what a machine's
/// process limit usually allows.
pub const MAX_WORKERS: usize = 4096;
/// The first backoff after a failed start; it doubles with each further quick failure.
pub const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// The longest backoff.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A worker that came up and lived this long ends its slot's failure streak.
pub const HEALTHY_UPTIME: Duration = Duration::from_secs(10);
/// The shortest timeout accepted: below it, scheduling noise decides, not the job.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(10);
/// The longest timeout accepted: a year is "never" for a worker loop, and keeps every
/// deadline sum far from overflow.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 86_400);
/// Waking this late past a deadline means the master was suspended, not slow.
pub const OVERSLEEP: Duration = Duration::from_secs(1);
/// How long to wait before asking a worker again to kill an overdue perform child.
pub const TIMEOUT_RETRY: Duration = Duration::from_secs(1);
/// How long a worker told to end at once may take before its process group is SIGKILLed
/// from outside. A worker that is not wedged ends within milliseconds.
pub const FORCE_GRACE: Duration = Duration::from_secs(1);
/// The first wait after a failed perform; it doubles with each further failure in a row.
pub const PERFORM_BACKOFF_BASE: Duration = Duration::from_millis(100);
/// The longest wait after failed performs.
pub const PERFORM_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A worker's `max_performs` limit is drawn between n and n + n / `RECYCLE_SPREAD`, so that
/// workers started together do not all recycle at once.
pub const RECYCLE_SPREAD: u64 = 4;
/// How many workers the master forks between two looks at its signals.
pub const FORK_BATCH: usize = 32;

/// How performs run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// `perform` runs in the worker process itself; state persists between performs. A panic
    /// ends the worker, which the master replaces (rerunning `setup`).
    Simple,
    /// Each `perform` runs in a child forked from the worker, so a crash, leak or panic in one
    /// perform cannot touch the worker or the next perform.
    #[default]
    Forking,
}

/// The master's settings.
#[derive(Clone, Debug)]
pub struct Config {
    pub workers: usize,
    pub strategy: Strategy,
    pub stop_timeout: Duration,
    pub setup_timeout: Option<Duration>,
    pub perform_timeout: Option<Duration>,
    pub max_restarts: Option<(u32, Duration)>,
    pub allow_threads: bool,
    pub pacing: Pacing,
    pub max_performs: Option<u64>,
    /// A worker that fails to start before the pool was ever up ends the start (a daemon's
    /// launcher must learn the truth); otherwise it is retried with backoff.
    pub must_come_up: bool,
    /// Sent to a forking worker's running perform child's group when a graceful stop reaches it.
    pub stop_signal: Option<i32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 1,
            strategy: Strategy::Forking,
            stop_timeout: Duration::from_secs(25),
            setup_timeout: None,
            perform_timeout: None,
            max_restarts: None,
            allow_threads: false,
            pacing: Pacing { backoff: Some((PERFORM_BACKOFF_BASE, PERFORM_BACKOFF_MAX)), ..Pacing::default() },
            max_performs: None,
            must_come_up: false,
            stop_signal: None,
        }
    }
}

impl Config {
    /// Rejects settings that cannot work, with the reason.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |why: String| Err(Error::Config(why));
        if self.workers > MAX_WORKERS {
            return bad(format!("workers({}) is more than the limit of {MAX_WORKERS}", self.workers));
        }
        for (name, t) in [
            ("stop_timeout", Some(self.stop_timeout)),
            ("setup_timeout", self.setup_timeout),
            ("perform_timeout", self.perform_timeout),
            ("max_restarts window", self.max_restarts.map(|(_, w)| w)),
            ("interval", self.pacing.interval),
            ("perform_backoff base", self.pacing.backoff.map(|(base, _)| base)),
            ("perform_backoff max", self.pacing.backoff.map(|(_, max)| max)),
        ] {
            check_range(name, t)?;
        }
        if (self.pacing.spread || self.pacing.align) && self.pacing.interval.is_none() {
            return bad("spread_starts and align_to_clock need an interval".into());
        }
        if let Some(sig) = self.stop_signal.filter(|s| !(1..32).contains(s)) {
            return bad(format!("stop_signal({sig}) is not a signal number (1 to 31)"));
        }
        if let Some(sig) = self.stop_signal.filter(|s| [SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU].contains(s)) {
            return bad(format!("stop_signal({sig}) would suspend the perform, not end it"));
        }
        if self.stop_signal == Some(SIGURG) {
            return bad(format!("stop_signal({SIGURG}): SIGURG is the crate's own, to wake workers"));
        }
        if self.max_performs == Some(0) {
            return bad("max_performs(0): a worker must be allowed at least one perform".into());
        }
        if let Some((base, max)) = self.pacing.backoff.filter(|(base, max)| base > max) {
            return bad(format!("perform_backoff base ({base:?}) is longer than its max ({max:?})"));
        }
        if let Some(p) = self.perform_timeout.filter(|&p| p > self.stop_timeout) {
            return bad(format!(
                "perform_timeout ({p:?}) is longer than stop_timeout ({:?}): a graceful stop would \
                 kill performs that are still within their time; raise stop_timeout",
                self.stop_timeout
            ));
        }
        Ok(())
    }
}

/// A duration setting must lie between `MIN_TIMEOUT` and `MAX_TIMEOUT`.
pub fn check_range(name: &str, value: Option<Duration>) -> Result<(), Error> {
    match value {
        Some(t) if t < MIN_TIMEOUT => {
            Err(Error::Config(format!("{name} of {t:?} is shorter than the minimum of {MIN_TIMEOUT:?}")))
        }
        Some(t) if t > MAX_TIMEOUT => {
            Err(Error::Config(format!("{name} is longer than a year; leave the option unset for none")))
        }
        _ => Ok(()),
    }
}
