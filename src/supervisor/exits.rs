//! How the master classifies the end of a child: a stranger, a worker that stopped as asked,
//! or one that ended unasked (then backoff, the restart limit, and maybe a replacement).

use std::time::Duration;

use std::fmt;

use super::{Cause, Failure, Kill, Slot, Supervisor, World, say};
use crate::log::{Ended, Human, Level};
use crate::sys::{Exit, Exited, Pid};
use crate::table::EXIT_SETUP_FAILED;

/// What follows the end of a worker that was not asked to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// A replacement after this delay.
    Restart(Duration),
    /// None: the slot is no longer wanted, or the pool is stopping.
    Nothing,
    /// None: this death tripped the restart limit.
    GiveUp,
    /// None: the pool had to come up, and this worker failed to start.
    StartFailed,
}

impl fmt::Display for Then {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Then::Restart(d) if d.is_zero() => f.write_str("restarting now"),
            Then::Restart(d) => write!(f, "restarting in {}", Human(d)),
            Then::Nothing => f.write_str("not restarting"),
            Then::GiveUp => f.write_str("not restarting: the restart limit is reached"),
            Then::StartFailed => f.write_str("not restarting: a daemon's start must succeed"),
        }
    }
}

impl Supervisor {
    /// Reaps every exited child: any child when supervising (strangers adopted as PID 1 or as
    /// a subreaper included), else only our workers.
    pub(super) fn reap(&mut self, now: Duration, world: &mut impl World) {
        if self.supervising {
            loop {
                match world.exited(None) {
                    Ok(Some(exited)) => self.reaped(exited, now, world),
                    Ok(None) => return,
                    Err(error) => return say!(world, Error, "waitid failed: {error}"),
                }
            }
        }
        for i in 0..self.slots.len() {
            let Some(pid) = self.slots[i].pid() else { continue };
            match world.exited(Some(pid)) {
                Ok(Some(exited)) => self.reaped(exited, now, world),
                Ok(None) => {}
                Err(error) => say!(world, Error, "waitid failed: {error}"),
            }
        }
    }

    /// A worker's process group is SIGKILLed while the worker is still a zombie, so the group
    /// id cannot have been reused: whatever it left running in its group does not outlive it.
    /// So is the group of a perform child it left running (it died unasked, or was killed):
    /// a program the child exec'd is killed by the kernel with its parent, but not what that
    /// program started. That group's id is not reused while anything is left in it to kill;
    /// once it is empty, reuse would take the pids to wrap around between the kernel's kill
    /// of that program and this one.
    pub(super) fn reaped(&mut self, exited: Exited, now: Duration, world: &mut impl World) {
        let slot = self.find(exited.pid);
        if let (Some(i), true) = (slot, exited.zombie) {
            world.kill_group(exited.pid);
            if let Some(group) = world.heartbeat(i).perform_group {
                world.kill_group(group);
            }
        }
        let exit = world.collect(exited.pid);
        match slot {
            Some(i) => self.on_exit(i, exited.pid, exit, now, world),
            None => say!(world, Debug, "reaped pid {}, not a worker: {}", exited.pid, Ended(exit)),
        }
    }

    /// Classifies an exit: stopped as asked, or ended unasked (then backoff, the restart limit,
    /// and a replacement if the slot is still wanted).
    pub(super) fn on_exit(&mut self, i: usize, pid: Pid, exit: Exit, now: Duration, world: &mut impl World) {
        let beat = world.heartbeat(i);
        self.late_starts += u64::from(beat.late_starts);
        let came_up = beat.ready;
        let s = &mut self.slots[i];
        let uptime = now.saturating_sub(s.started);
        let kill = s.kill_reason();
        if s.asked_to_end() {
            s.clear();
            let forced = kill.is_some_and(Kill::ends_a_stop);
            let level = if forced || exit == Exit::Code(0) { Level::Info } else { Level::Warn };
            return world.log(level, format_args!("worker {i} (pid {pid}) stopped: {}", Ended(exit)));
        }
        if beat.recycled && exit == Exit::Code(0) {
            // Not a death: no backoff, no restart counted, replaced on this turn's tick.
            *s = Slot { not_before: now, ..Slot::default() };
            let uptime = Human(uptime);
            return say!(world, Info, "worker {i} (pid {pid}) recycled after {uptime} (max_performs): replacing it");
        }
        if !came_up {
            self.roll_failed(i, world);
        }
        let s = &mut self.slots[i];
        let delay = s.failed(now, came_up);
        s.clear();
        self.last_failure = Some(Failure { slot: i, exit, came_up, kill, forked: true });
        let tripped = self.record_restart(now);
        let then = if tripped && self.start_failed() {
            Then::StartFailed
        } else if tripped {
            Then::GiveUp
        } else if self.supervising && self.stopping.is_none() && i < self.target {
            Then::Restart(delay)
        } else {
            Then::Nothing
        };
        let (why, ended) = (Kill::after(kill), Ended(exit));
        if came_up {
            let (level, how) =
                if exit == Exit::Code(0) { (Level::Warn, "ended unasked") } else { (Level::Error, "died") };
            let uptime = Human(uptime);
            world.log(level, format_args!("worker {i} (pid {pid}) {how} after {uptime}: {ended}{why}; {then}"));
        } else {
            let level =
                if exit == Exit::Code(EXIT_SETUP_FAILED) || kill.is_some() { Level::Warn } else { Level::Error };
            world.log(level, format_args!("worker {i} (pid {pid}) failed to start: {ended}{why}; {then}"));
        }
        if tripped {
            self.give_up(now, world);
        }
    }

    /// Feeds the restart limit; true when this restart trips it for the first time, or is a
    /// failed start of a pool that must come up (a daemon's).
    pub(super) fn record_restart(&mut self, now: Duration) -> bool {
        self.notices.restarts += 1;
        let limit = self.window.as_mut().is_some_and(|w| w.record(now));
        let tripped = (limit || self.start_failed()) && !self.gave_up;
        self.gave_up |= tripped;
        tripped
    }

    /// A worker failed to start before the pool was ever up, and the pool must come up.
    pub fn start_failed(&self) -> bool {
        self.supervising && self.cfg.must_come_up && !self.notices.ready
    }

    pub(super) fn give_up(&mut self, now: Duration, world: &mut impl World) {
        if self.start_failed() {
            say!(world, Error, "a worker failed before every worker was up: giving up the start");
            return self.begin_stop(Cause::StartFailed, now, world);
        }
        let (restarts, within) = self.cfg.max_restarts.unwrap_or_default();
        say!(world, Error, "workers died more than {restarts} times within {}: giving up", Human(within));
        self.begin_stop(Cause::RestartLimit, now, world);
    }
}
