//! The supervisor: every decision of the master, as a state machine over plain data.
//!
//! Its inputs are counted signals, children's exits, the clock and the workers' heartbeats;
//! its outputs are calls on a [`World`]: fork slot i, ask it to stop, end it at once, kill its
//! group, log this. Nothing here forks, signals, waits or allocates per input; `driver`
//! implements the `World` through `sys`, and the unit tests implement it with a recording
//! fake. All policy lives here: escalation to an immediate stop, the scaling arithmetic,
//! which kills count as forced, how each exit is classified and logged, the reaction to an
//! overrun for each strategy, the restart limit, and the order of the steps in one turn.
//! Time is a `Duration` on the monotonic clock (`sys::now`).

mod exits;
mod notify;
mod roll;
mod signals;
mod slot;
mod tick;
mod timeouts;

#[cfg(test)]
mod tests;

use std::io;
use std::time::Duration;

pub use notify::{Notice, Status};
pub use signals::{Cause, Signals};
pub use slot::Kill;

use crate::config::Config;
use crate::error::ForkError;
use crate::health::Runs;
use crate::log::{Human, Level, Workers};
use crate::sys::{Exit, Exited, Pid};
use crate::table::Heartbeat;
use slot::{Life, RestartWindow, Slot};
use timeouts::overslept;

/// A worker that came up and lived this long ends its slot's failure streak.
const HEALTHY_UPTIME: Duration = Duration::from_secs(10);
/// Waking this late past a deadline means the master was suspended, not slow.
const OVERSLEEP: Duration = Duration::from_secs(1);
/// How long to wait before asking a worker again to kill an overdue perform child.
const TIMEOUT_RETRY: Duration = Duration::from_secs(1);
/// How long a worker told to end at once may take before its process group is SIGKILLed
/// from outside. A worker that is not wedged ends within milliseconds.
const FORCE_GRACE: Duration = Duration::from_secs(1);
/// An INT or TERM this soon after the one that began a graceful stop is the same request.
const SAME_REQUEST: Duration = Duration::from_secs(1);
/// How many workers the master forks between two looks at its signals.
const FORK_BATCH: usize = 32;

/// Logs a line through a [`World`] at a level: `say!(world, Info, "worker {i} started")`.
macro_rules! say {
    ($world:expr, $level:ident, $($arg:tt)+) => {
        $world.log(crate::log::Level::$level, format_args!($($arg)+))
    };
}
pub(crate) use say;

/// What the supervisor acts on and through.
pub trait World {
    /// Forks a worker for `slot`.
    fn fork(&mut self, slot: usize) -> Result<Pid, ForkError>;
    /// Asks worker `pid` to stop after its current perform, signalling nothing it started.
    fn ask_to_stop(&mut self, slot: usize, pid: Pid);
    /// Tells worker `pid` to kill what it runs (its perform's whole group) and itself, now.
    fn force(&mut self, slot: usize, pid: Pid);
    /// SIGKILLs the process group led by `pid`.
    fn kill_group(&mut self, pid: Pid);
    /// Asks forking worker `pid` to kill the perform that started at `started`, with its group.
    fn kill_perform(&mut self, slot: usize, pid: Pid, started: Duration);
    /// Reopens the master's own log (its logger's `reopen`).
    fn reopen_log(&mut self);
    /// Asks worker `pid` to reopen its log before its next perform.
    fn ask_to_reopen(&mut self, slot: usize, pid: Pid);
    /// What the worker in `slot` says about itself.
    fn heartbeat(&self, slot: usize) -> Heartbeat;
    /// How the performs of slots `0..slots` fare.
    fn runs(&self, slots: usize) -> Runs;
    /// A simple perform in `slot` overran its timeout (its worker is killed for it): a failure.
    fn perform_timed_out(&mut self, slot: usize);
    /// A child that has exited (`pid`, or any when `None`), not yet reaped.
    fn exited(&mut self, pid: Option<Pid>) -> io::Result<Option<Exited>>;
    /// Reaps a child `exited` returned.
    fn collect(&mut self, pid: Pid) -> Exit;
    /// Logs one line (written with [`say!`] where it is decided).
    fn log(&mut self, level: Level, args: std::fmt::Arguments<'_>);
    /// Tells the service manager (and a daemon's launcher), if one listens.
    fn notify(&mut self, notice: &Notice);
}

/// The last worker that ended unasked, for `Error::RestartLimit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub slot: usize,
    /// How it ended; `Exit::Vanished` when it could not be forked.
    pub exit: Exit,
    pub came_up: bool,
    pub kill: Option<Kill>,
    /// False when the fork itself failed (its error was logged then).
    pub forked: bool,
}

/// The master's state: its slots, its target, and where a stop stands.
#[derive(Debug, Default)]
pub struct Supervisor {
    cfg: Config,
    /// Supervising (`run`): reap any child, start and restart workers. Otherwise (the
    /// unmonitored API) only our own pids are reaped and nothing is started on its own.
    supervising: bool,
    slots: Vec<Slot>,
    target: usize,
    stopping: Option<Cause>,
    /// The INT or TERM that began a graceful stop, and when.
    stop_signalled: Option<(Cause, Duration)>,
    /// Performs failed this many times in a row, reaching `max_failures`: the stop's cause.
    failing: Option<u64>,
    /// Workers ended by force after being asked to stop.
    killed: usize,
    /// Timeouts count from here at the earliest (the last return from a suspension).
    armed_from: Duration,
    /// When the last wait was planned to end.
    planned: Option<Duration>,
    fork_failures: u32,
    window: Option<RestartWindow>,
    gave_up: bool,
    last_failure: Option<Failure>,
    /// Why the last fork failed, for `Error::RestartLimit` when a failed fork tripped it.
    fork_error: Option<ForkError>,
    /// A rolling restart (HUP) in progress.
    roll: Option<roll::Roll>,
    /// Late starts of the workers reaped so far.
    late_starts: u64,
    /// What the service manager has been told.
    notices: notify::Notices,
}

impl Supervisor {
    /// A supervisor for `cfg`, supervising (`run`) or not (the unmonitored API).
    pub fn new(cfg: Config, supervising: bool) -> Self {
        let window = cfg.max_restarts.filter(|_| supervising).map(|(n, within)| RestartWindow::new(n, within));
        Supervisor { cfg, supervising, window, ..Supervisor::default() }
    }

    /// Starts supervising: the configured number of workers is wanted from now on.
    pub fn begin(&mut self, master: Pid, now: Duration, world: &mut impl World) {
        self.target = self.cfg.workers;
        let (workers, strategy) = (Workers(self.target), self.cfg.strategy);
        say!(world, Info, "master {master} starting {workers} ({strategy:?} strategy)");
        self.notify_start(now, world);
    }

    /// One turn of the loop, in this order: notice a suspension of the master, act on the
    /// signals, reap, then start, stop, kill and time out what is due. Returns when the next
    /// turn is due (`None`: only a signal can make one due).
    pub fn turn(&mut self, now: Duration, signals: Signals, world: &mut impl World) -> Option<Duration> {
        // Only a supervising master sleeps until its deadline; the unmonitored API is called
        // whenever its caller likes.
        if self.supervising && overslept(self.planned, now) {
            let late = now - self.planned.unwrap_or(now);
            say!(world, Warn, "master woke {} late (suspended?); timeouts count again from now", Human(late));
            self.rearm(now);
        }
        self.on_signals(signals, now, world);
        self.reap(now, world);
        if self.supervising {
            self.notice_up(now, world);
            self.check_runs(now, world);
        }
        // A deadline already past (a backoff over, more forks than one batch) is due now:
        // planning to wake at it would make the next turn look like a return from a suspension.
        let deadline = if self.done() { None } else { self.tick(now, world).map(|d| d.max(now)) };
        let watchdog = if self.supervising { self.notify_turn(now, world) } else { None };
        let deadline = if self.done() { None } else { deadline.into_iter().chain(watchdog).min() };
        self.planned = deadline;
        deadline
    }

    /// A supervised pool is done when it was told to stop and every worker is gone.
    pub fn done(&self) -> bool {
        self.stopping.is_some() && self.live() == 0
    }

    /// Performs started late against the interval's schedule, by every worker reaped so far.
    pub fn late_starts(&self) -> u64 {
        self.late_starts
    }

    /// Workers ended by force after being asked to stop, so far.
    pub fn killed(&self) -> usize {
        self.killed
    }

    /// How many performs had failed in a row when `max_failures` stopped the pool, if it did.
    pub fn failing(&self) -> Option<u64> {
        self.failing
    }

    /// The failure that tripped the restart limit, if it tripped.
    pub fn gave_up(&self) -> Option<Failure> {
        self.last_failure.filter(|_| self.gave_up)
    }

    /// Why the last fork failed, if one did.
    pub fn fork_error(&self) -> Option<&ForkError> {
        self.fork_error.as_ref()
    }

    /// Live workers.
    pub fn live(&self) -> usize {
        self.slots.iter().filter(|s| s.pid().is_some()).count()
    }

    /// The pids of the live workers.
    pub fn pids(&self) -> impl Iterator<Item = Pid> + '_ {
        self.slots.iter().filter_map(Slot::pid)
    }

    /// The slot of worker `pid`.
    pub fn find(&self, pid: Pid) -> Option<usize> {
        self.slots.iter().position(|s| s.pid() == Some(pid))
    }

    /// Whether `slot` has a live worker.
    pub fn is_live(&self, slot: usize) -> bool {
        self.slots.get(slot).is_some_and(|s| s.pid().is_some())
    }

    /// Unmonitored: forks one worker into the lowest free slot.
    pub fn start_one(&mut self, now: Duration, world: &mut impl World) -> Result<Pid, ForkError> {
        let i = self.slots.iter().position(|s| s.pid().is_none()).unwrap_or(self.slots.len());
        if i == self.slots.len() {
            self.slots.push(Slot::default());
        }
        let pid = world.fork(i)?;
        self.started(i, pid, now, world);
        Ok(pid)
    }

    /// Unmonitored: asks the worker in `slot` (every worker when `None`) to stop.
    pub fn stop_unmonitored(&mut self, slot: Option<usize>, now: Duration, world: &mut impl World) {
        for i in 0..self.slots.len() {
            if slot.is_none_or(|s| s == i) {
                self.ask_to_stop(i, now, world);
            }
        }
    }

    fn rearm(&mut self, now: Duration) {
        self.armed_from = now;
        for s in &mut self.slots {
            match &mut s.life {
                Life::Stopping(_, since) | Life::Forced(_, _, since) => *since = (*since).max(now),
                _ => {}
            }
        }
    }

    fn ask_to_stop(&mut self, i: usize, now: Duration, world: &mut impl World) {
        let s = &mut self.slots[i];
        if let Life::Running(pid) = s.life {
            s.life = Life::Stopping(pid, now);
            world.ask_to_stop(i, pid);
        }
    }

    fn force(&mut self, i: usize, why: Kill, now: Duration, world: &mut impl World) {
        let s = &mut self.slots[i];
        if let Life::Running(pid) | Life::Stopping(pid, _) = s.life {
            s.life = Life::Forced(pid, why, now);
            world.force(i, pid);
            if why.ends_a_stop() {
                self.killed += 1;
            }
        }
    }

    fn kill_group(&mut self, i: usize, why: Kill, world: &mut impl World) {
        let s = &mut self.slots[i];
        let asked = s.asked_to_end() || why.ends_a_stop();
        if let Life::Running(pid) | Life::Stopping(pid, _) | Life::Forced(pid, ..) = s.life {
            s.life = Life::Killed(pid, why, asked);
            world.kill_group(pid);
        }
    }
}
