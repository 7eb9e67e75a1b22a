//! One place in the pool, as the master sees it: its worker's life, one state at a time, and
//! the arithmetic of restarts (the failure streak, backoff, the restart window).

use std::collections::VecDeque;
use std::time::Duration;

use super::HEALTHY_UPTIME;
use crate::pace::restart_delay;
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

/// Where a slot's worker stands. Each step only goes forward: running, asked to stop, told to
/// end at once, its group SIGKILLed; the slot is empty again once the worker is reaped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Life {
    /// No worker.
    #[default]
    Empty,
    /// Worker `pid` runs and was asked nothing.
    Running(Pid),
    /// Asked at this time to stop after its perform; ended by force at this plus the stop
    /// timeout.
    Stopping(Pid, Duration),
    /// Told at this time to end at once (it kills what it runs, then itself).
    Forced(Pid, Kill, Duration),
    /// Its process group was SIGKILLed from outside; `asked` if it had been asked to end.
    Killed(Pid, Kill, bool),
}

impl Life {
    /// The live (not yet reaped) worker, if any.
    pub fn pid(self) -> Option<Pid> {
        match self {
            Life::Empty => None,
            Life::Running(pid) | Life::Stopping(pid, _) | Life::Forced(pid, ..) | Life::Killed(pid, ..) => Some(pid),
        }
    }
}

/// Slot `i` is the worker that `Context::worker()` calls `i`. Everything here is the master's
/// own record; what only the worker knows (whether `setup` finished, when its perform started)
/// is read from its heartbeat.
#[derive(Clone, Debug, Default)]
pub struct Slot {
    pub life: Life,
    /// When the live worker was forked.
    pub started: Duration,
    /// Quick failures in a row (failed starts, and deaths before `HEALTHY_UPTIME`).
    pub streak: u32,
    /// No worker is started here before this time (backoff).
    pub not_before: Duration,
    /// The overdue forking perform (its start) the worker was asked to kill, and when.
    pub timeout_sent: Option<(Duration, Duration)>,
}

impl Slot {
    /// The live (not yet reaped) worker, if any.
    pub fn pid(&self) -> Option<Pid> {
        self.life.pid()
    }

    /// Whether the master asked this worker to end: its exit is then no failure.
    pub fn asked_to_end(&self) -> bool {
        match self.life {
            Life::Stopping(..) => true,
            Life::Forced(_, why, _) => why.ends_a_stop(),
            Life::Killed(_, _, asked) => asked,
            Life::Empty | Life::Running(_) => false,
        }
    }

    /// Why the worker was ended by force, if it was.
    pub fn kill_reason(&self) -> Option<Kill> {
        match self.life {
            Life::Forced(_, why, _) | Life::Killed(_, why, _) => Some(why),
            _ => None,
        }
    }

    /// A new worker `pid` forked at `now`; the streak and backoff carry over.
    pub fn start(&mut self, pid: Pid, now: Duration) {
        *self = Slot { life: Life::Running(pid), started: now, ..self.emptied() };
    }

    /// The worker was reaped at `now` after ending unasked; `came_up` tells whether it had
    /// finished `setup`. Returns the delay before its replacement.
    pub fn failed(&mut self, now: Duration, came_up: bool) -> Duration {
        if came_up && now.saturating_sub(self.started) >= HEALTHY_UPTIME {
            self.streak = 0;
        }
        self.fork_failed(now, came_up)
    }

    /// A fork for this slot failed at `now` (`came_up` false), or its worker failed: the
    /// streak grows; returns the delay before the next fork.
    pub fn fork_failed(&mut self, now: Duration, came_up: bool) -> Duration {
        self.streak = self.streak.saturating_add(1);
        let delay = restart_delay(self.streak, came_up);
        self.not_before = now + delay;
        delay
    }

    /// The worker was reaped: the slot is empty, its streak and backoff kept.
    pub fn clear(&mut self) {
        *self = self.emptied();
    }

    fn emptied(&self) -> Slot {
        Slot { streak: self.streak, not_before: self.not_before, ..Slot::default() }
    }
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
