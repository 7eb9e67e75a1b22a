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

mod config;
mod event;
mod exits;
mod notify;
mod pace;
mod roll;
mod slot;
mod tick;
mod timeouts;

#[cfg(test)]
mod tests;

use std::io;
use std::time::Duration;

pub use config::*;
pub use event::{Cause, Ended, Event, ForkError, Human, Then};
pub use notify::Notice;
pub use pace::{Pace, Pacing, first_due, recycle_limit};
pub use slot::{Kill, restart_delay};

use crate::sys::{Exit, Exited, Pid, SIGINT, SIGQUIT, SIGTERM};
use slot::{RestartWindow, Slot};
use timeouts::overslept;

/// A worker's heartbeat, as read from shared memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heartbeat {
    /// `setup` returned `Ok`.
    pub ready: bool,
    /// The worker ran its `max_performs` and ends to be replaced at once.
    pub recycled: bool,
    /// Its performs that started late against the interval's schedule.
    pub late_starts: u32,
    /// When the running perform started, if one is running (stamped only with a perform
    /// timeout).
    pub perform_started: Option<Duration>,
    /// The process group of the running perform child (forking strategy), if one runs.
    pub perform_group: Option<Pid>,
}

/// The master's signals that arrived since the last turn, counted.
#[derive(Clone, Copy, Debug, Default)]
pub struct Signals {
    pub int: u32,
    pub term: u32,
    pub quit: u32,
    pub ttin: u32,
    pub ttou: u32,
    pub hup: u32,
    pub usr1: u32,
    /// Signals that mean nothing to the master and arrived: bit `n - 1` for signal `n`.
    pub ignored: u32,
}

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
    /// A child that has exited (`pid`, or any when `None`), not yet reaped.
    fn exited(&mut self, pid: Option<Pid>) -> io::Result<Option<Exited>>;
    /// Reaps a child `exited` returned.
    fn collect(&mut self, pid: Pid) -> Exit;
    /// Records an event.
    fn log(&mut self, event: &Event<'_>);
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
#[derive(Debug)]
pub struct Supervisor {
    cfg: Config,
    /// Supervising (`run`): reap any child, start and restart workers. Otherwise (the
    /// unmonitored API) only our own pids are reaped and nothing is started on its own.
    supervising: bool,
    slots: Vec<Slot>,
    target: usize,
    stopping: Option<Cause>,
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
        Supervisor {
            cfg,
            supervising,
            slots: Vec::new(),
            target: 0,
            stopping: None,
            killed: 0,
            armed_from: Duration::ZERO,
            planned: None,
            fork_failures: 0,
            window,
            gave_up: false,
            last_failure: None,
            fork_error: None,
            roll: None,
            late_starts: 0,
            notices: notify::Notices::default(),
        }
    }

    /// Starts supervising: the configured number of workers is wanted from now on.
    pub fn begin(&mut self, master: Pid, now: Duration, world: &mut impl World) {
        self.target = self.cfg.workers;
        world.log(&Event::Starting { master, workers: self.target, strategy: self.cfg.strategy });
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
            world.log(&Event::Overslept { late });
            self.rearm(now);
        }
        self.on_signals(signals, now, world);
        self.reap(now, world);
        if self.supervising {
            self.notice_up(now, world);
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
        self.slots.iter().filter(|s| s.pid.is_some()).count()
    }

    /// The pids of the live workers.
    pub fn pids(&self) -> impl Iterator<Item = Pid> + '_ {
        self.slots.iter().filter_map(|s| s.pid)
    }

    /// The slot of worker `pid`.
    pub fn find(&self, pid: Pid) -> Option<usize> {
        self.slots.iter().position(|s| s.pid == Some(pid))
    }

    /// Whether `slot` has a live worker.
    pub fn is_live(&self, slot: usize) -> bool {
        self.slots.get(slot).is_some_and(|s| s.pid.is_some())
    }

    /// Unmonitored: forks one worker into the lowest free slot.
    pub fn start_one(&mut self, now: Duration, world: &mut impl World) -> Result<Pid, ForkError> {
        let i = self.slots.iter().position(|s| s.pid.is_none()).unwrap_or(self.slots.len());
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
            s.stop_sent = s.stop_sent.map(|t| t.max(now));
            s.forced = s.forced.map(|(why, t)| (why, t.max(now)));
        }
    }

    fn on_signals(&mut self, s: Signals, now: Duration, world: &mut impl World) {
        if s.quit > 0 {
            self.stop_at_once(Cause::Signal(SIGQUIT), false, now, world);
        } else if s.int + s.term > 0 {
            let by = Cause::Signal(if s.term > 0 { SIGTERM } else { SIGINT });
            if self.stopping.is_some() || s.int + s.term > 1 {
                self.stop_at_once(by, true, now, world);
            } else {
                self.begin_stop(by, now, world);
            }
        }
        if s.usr1 > 0 {
            self.reopen_logs(world);
        }
        if s.hup > 0 && self.spawning() {
            // A roll's end tells the service manager (and a daemon's launcher) the pool is
            // ready: that must not come before it ever was. Until then the HUP is held.
            if self.notices.ready {
                self.begin_roll(now, world);
            } else if !self.notices.roll_held {
                self.notices.roll_held = true;
                world.log(&Event::RollHeld);
            }
        }
        for signal in (1..32).filter(|n| s.ignored & 1 << (n - 1) != 0) {
            world.log(&Event::Ignored { signal });
        }
        if (s.ttin > 0 || s.ttou > 0) && self.stopping.is_none() {
            self.scale(s.ttin as usize, s.ttou as usize, world);
        }
    }

    /// USR1: the master's log first, then every live worker's, each between two performs, so
    /// no perform's lines straddle two files.
    fn reopen_logs(&mut self, world: &mut impl World) {
        world.reopen_log();
        world.log(&Event::Reopened { workers: self.live() });
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(pid) = s.pid {
                world.ask_to_reopen(i, pid);
            }
        }
    }

    /// TTIN adds a worker and TTOU removes one; those taken together cancel out, and the
    /// result stays within 0 and `MAX_WORKERS`. The excess is retired on the next tick,
    /// highest slot first.
    fn scale(&mut self, up: usize, down: usize, world: &mut impl World) {
        let from = self.target;
        let wanted = (from + up).saturating_sub(down);
        if wanted > MAX_WORKERS {
            world.log(&Event::ScalingLimit { max: MAX_WORKERS });
        }
        let to = wanted.min(MAX_WORKERS);
        if to != from {
            self.target = to;
            world.log(&Event::Scaling { from, to });
        } else if from == 0 && down > up {
            world.log(&Event::NothingToRetire);
        }
    }

    fn begin_stop(&mut self, by: Cause, now: Duration, world: &mut impl World) {
        if self.stopping.is_some() {
            return;
        }
        self.stopping = Some(by);
        world.notify(&Notice::Stopping);
        world.log(&Event::Stopping { by, workers: self.live(), timeout: self.cfg.stop_timeout });
        for i in 0..self.slots.len() {
            self.ask_to_stop(i, now, world);
        }
    }

    fn stop_at_once(&mut self, by: Cause, again: bool, now: Duration, world: &mut impl World) {
        if self.stopping.is_none() {
            self.stopping = Some(by);
            world.notify(&Notice::Stopping);
        }
        world.log(&Event::StoppingAtOnce { by, again, workers: self.live() });
        for i in 0..self.slots.len() {
            self.force(i, Kill::Immediate, now, world);
        }
    }

    fn ask_to_stop(&mut self, i: usize, now: Duration, world: &mut impl World) {
        let s = &mut self.slots[i];
        if let (Some(pid), None, None, None) = (s.pid, s.stop_sent, s.forced, s.killed) {
            s.stop_sent = Some(now);
            world.ask_to_stop(i, pid);
        }
    }

    fn force(&mut self, i: usize, why: Kill, now: Duration, world: &mut impl World) {
        let s = &mut self.slots[i];
        if let (Some(pid), None, None) = (s.pid, s.forced, s.killed) {
            s.forced = Some((why, now));
            world.force(i, pid);
            if why.ends_a_stop() {
                self.killed += 1;
            }
        }
    }

    fn kill_group(&mut self, i: usize, why: Kill, world: &mut impl World) {
        let s = &mut self.slots[i];
        if let (Some(pid), None) = (s.pid, s.killed) {
            s.killed = Some(why);
            world.kill_group(pid);
        }
    }
}
