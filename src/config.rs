//! The master's settings and the limits they must respect, checked before anything forks.

use std::path::PathBuf;
use std::time::Duration;

use crate::Error;
use crate::log::Noun;
use crate::pace::{PERFORM_BACKOFF_BASE, PERFORM_BACKOFF_MAX, Pacing};
use crate::signal::Signal;
use crate::sys::{SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG};

/// The most workers a master runs ([`Master::workers`](crate::Master::workers), TTIN): the size
/// of the table the master shares with them, and far past what a machine's process limit
/// usually allows.
pub const MAX_WORKERS: usize = 4096;
/// The shortest timeout accepted: below it, scheduling noise decides, not the job.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(10);
/// The longest timeout accepted: a year is "never" for a worker loop, and keeps every
/// deadline sum far from overflow.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 86_400);

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
    /// Give up after this many failed performs in a row across the pool.
    pub max_failures: Option<u64>,
    /// A worker that fails to start before the pool was ever up ends the start (a daemon's
    /// launcher must learn the truth); otherwise it is retried with backoff.
    pub must_come_up: bool,
    /// Sent to a forking worker's running perform child's group when a graceful stop reaches it.
    pub stop_signal: Option<Signal>,
    /// What workers and perform children call themselves: `NAME-wN`, `NAME-pN`.
    pub name: String,
    /// The run state file and the metrics file the master keeps.
    pub state_file: Option<PathBuf>,
    pub metrics_file: Option<PathBuf>,
    /// At start, a slot that missed a scheduled start while nothing ran runs one perform.
    pub catch_up: bool,
    /// What log lines call a perform.
    pub noun: Noun,
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
            max_failures: None,
            must_come_up: false,
            stop_signal: None,
            name: "sisyphus".into(),
            state_file: None,
            metrics_file: None,
            catch_up: false,
            noun: Noun::Perform,
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
            ("splay", self.pacing.splay),
            ("perform_backoff base", self.pacing.backoff.map(|(base, _)| base)),
            ("perform_backoff max", self.pacing.backoff.map(|(_, max)| max)),
        ] {
            check_range(name, t)?;
        }
        if self.pacing.interval.is_some() && self.pacing.cron.is_some() {
            return bad("interval and cron are two schedules: give one".into());
        }
        if (self.pacing.spread || self.pacing.align) && self.pacing.interval.is_none() {
            return bad("spread_starts and align_to_clock need an interval".into());
        }
        crate::state::check_files([&self.state_file, &self.metrics_file], &[]).map_err(Error::Config)?;
        if self.catch_up && (!self.pacing.scheduled() || self.state_file.is_none()) {
            return bad("catch_up needs a schedule (an interval or cron) and a state_file".into());
        }
        if let Some((splay, every)) = self.pacing.splay.zip(self.pacing.interval).filter(|(s, i)| s > i) {
            return bad(format!("splay ({splay:?}) is longer than the interval ({every:?}) it moves starts in"));
        }
        if self.pacing.splay.is_some() && !self.pacing.scheduled() {
            return bad("splay needs a schedule: an interval or cron".into());
        }
        if let Some(sig) = self.stop_signal {
            let why = match sig.as_raw() {
                _ if self.strategy == Strategy::Simple => {
                    "with the simple strategy: a simple perform runs in the worker itself, where \
                     Context::stop_requested tells it of a stop"
                }
                SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => "would suspend the perform, not end it",
                SIGURG => "is sisyphus's own, to wake workers",
                _ => "",
            };
            if !why.is_empty() {
                return bad(format!("stop_signal {sig} {why}"));
            }
        }
        if self.name.is_empty() || self.name.chars().any(|c| c.is_control() || c == '/') {
            return bad(format!("name {:?} must be non-empty, without control characters or '/'", self.name));
        }
        if self.max_performs == Some(0) {
            return bad("max_performs(0): a worker must be allowed at least one perform".into());
        }
        if self.max_failures == Some(0) {
            return bad("max_failures(0): give up after at least one failed perform".into());
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
