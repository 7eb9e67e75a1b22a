//! One place in the pool, as the master sees it, and the arithmetic of restarts: backoff and
//! the restart window.

use std::collections::VecDeque;
use std::time::Duration;

use super::config::{BACKOFF_BASE, BACKOFF_MAX, HEALTHY_UPTIME};
use crate::sys::Pid;

/// Why the master ended a worker by force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kill {
    /// Immediate stop (QUIT, or a second INT or TERM).
    Immediate,
    /// Still running when its stop timeout ran out.
    StopTimeout,
    /// `setup` overran `setup_timeout`.
    SetupTimeout,
    /// A simple-strategy perform overran `perform_timeout`.
    PerformTimeout,
}

impl Kill {
    /// Whether this ends a worker that had been asked to stop (it counts in
    /// `Shutdown::killed`) rather than one that failed.
    pub fn ends_a_stop(self) -> bool {
        matches!(self, Kill::Immediate | Kill::StopTimeout)
    }

    /// What to add to "was killed by signal KILL" when a timeout was the reason.
    pub fn after(kill: Option<Kill>) -> &'static str {
        match kill {
            Some(Kill::SetupTimeout) => " after its setup timeout",
            Some(Kill::PerformTimeout) => " after its perform timeout",
            _ => "",
        }
    }
}

/// Slot `i` is the worker that `Context::worker()` calls `i`. Everything here is the master's
/// own record; what only the worker knows (whether `setup` finished, when its perform started)
/// is read from its heartbeat.
#[derive(Clone, Debug, Default)]
pub struct Slot {
    /// The live (not yet reaped) worker, if any.
    pub pid: Option<Pid>,
    /// When that worker was forked.
    pub started: Duration,
    /// When it was asked to stop gracefully; it is ended by force at this plus the stop timeout.
    pub stop_sent: Option<Duration>,
    /// Why and when it was told to end at once (it kills what it runs, then itself).
    pub forced: Option<(Kill, Duration)>,
    /// Why its process group was SIGKILLed from outside, if it was.
    pub killed: Option<Kill>,
    /// Quick failures in a row (failed starts, and deaths before `HEALTHY_UPTIME`).
    pub streak: u32,
    /// No worker is started here before this time (backoff).
    pub not_before: Duration,
    /// The overdue forking perform (its start) the worker was asked to kill, and when.
    pub timeout_sent: Option<(Duration, Duration)>,
}

impl Slot {
    /// Whether the master asked this worker to end: its exit is then no failure.
    pub fn asked_to_end(&self) -> bool {
        self.stop_sent.is_some()
            || self.forced.is_some_and(|(why, _)| why.ends_a_stop())
            || self.killed.is_some_and(Kill::ends_a_stop)
    }

    /// Why the worker was ended by force, if it was.
    pub fn kill_reason(&self) -> Option<Kill> {
        self.killed.or(self.forced.map(|(why, _)| why))
    }

    /// A new worker `pid` forked at `now`; the streak and backoff carry over.
    pub fn start(&mut self, pid: Pid, now: Duration) {
        *self =
            Slot { pid: Some(pid), started: now, streak: self.streak, not_before: self.not_before, ..Slot::default() };
    }

    /// The worker was reaped at `now` after ending unasked; `came_up` tells whether it had
    /// finished `setup`. Returns the delay before its replacement.
    pub fn failed(&mut self, now: Duration, came_up: bool) -> Duration {
        if came_up && now.saturating_sub(self.started) >= HEALTHY_UPTIME {
            self.streak = 0;
        }
        self.streak = self.streak.saturating_add(1);
        self.back_off(now, restart_delay(self.streak, came_up))
    }

    /// A fork for this slot failed at `now`; returns the retry delay.
    pub fn fork_failed(&mut self, now: Duration) -> Duration {
        self.streak = self.streak.saturating_add(1);
        self.back_off(now, restart_delay(self.streak, false))
    }

    fn back_off(&mut self, now: Duration, delay: Duration) -> Duration {
        self.not_before = now + delay;
        delay
    }

    /// The worker was reaped: the slot is empty, its streak and backoff kept.
    pub fn clear(&mut self) {
        *self = Slot { streak: self.streak, not_before: self.not_before, ..Slot::default() };
    }
}

/// The delay before replacing a worker that ended unasked, `streak` being the slot's number of
/// quick failures including this one (at least 1). A worker that came up (finished `setup`) is
/// replaced at once the first time; each further quick failure, and every failed start, waits
/// twice as long as the one before, from `BACKOFF_BASE` up to `BACKOFF_MAX`.
pub fn restart_delay(streak: u32, came_up: bool) -> Duration {
    doubling(streak.saturating_add(u32::from(!came_up)).saturating_sub(1), BACKOFF_BASE, BACKOFF_MAX)
}

/// Zero for `n` = 0, else `base` doubled `n - 1` times, at most `max`.
pub fn doubling(n: u32, base: Duration, max: Duration) -> Duration {
    if n == 0 {
        return Duration::ZERO;
    }
    base.saturating_mul(1u32.checked_shl(n - 1).unwrap_or(u32::MAX)).min(max)
}

/// Deaths in a sliding window, for `max_restarts`.
#[derive(Clone, Debug)]
pub struct RestartWindow {
    max: u32,
    within: Duration,
    recent: VecDeque<Duration>,
}

impl RestartWindow {
    /// At most `max` restarts within any `within`.
    pub fn new(max: u32, within: Duration) -> Self {
        RestartWindow { max, within, recent: VecDeque::with_capacity((max as usize).saturating_add(1).min(1024)) }
    }

    /// Records a restart at `now`; true when that makes more than `max` within the window.
    pub fn record(&mut self, now: Duration) -> bool {
        if self.recent.len() > self.max as usize {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.recent.len() > self.max as usize && self.recent.front().is_some_and(|&t| now - t <= self.within)
    }
}
