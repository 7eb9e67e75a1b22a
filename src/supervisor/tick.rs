//! What is due at a given time: retiring the excess, starting workers, ending stops that
//! overran, and setup and perform timeouts.

use std::time::Duration;

use super::slot::Life;
use super::timeouts::{Overrun, check_timeout};
use super::{FORCE_GRACE, FORK_BATCH, Failure, Kill, Slot, Supervisor, World, say};
use crate::config::Strategy;
use crate::log::Human;
use crate::sys::{Exit, Pid};

impl Supervisor {
    /// Carries out what is due at `now`; returns when the next thing is due.
    pub(super) fn tick(&mut self, now: Duration, world: &mut impl World) -> Option<Duration> {
        if self.spawning() {
            while let Some(i) = self.next_excess() {
                let pid = self.slots[i].pid().unwrap_or_default();
                say!(world, Info, "retiring worker {i} (pid {pid})");
                self.ask_to_stop(i, now, world);
            }
            // In batches, so a thousand forks do not keep signals waiting.
            for _ in 0..FORK_BATCH {
                match self.due(now) {
                    Some(i) if self.spawn(i, now, world) => {}
                    _ => break,
                }
            }
        }
        if self.spawning() {
            self.step_roll(now, world);
        } else {
            self.roll = None;
        }
        self.enforce_stops(now, world);
        let timeouts = self.enforce_timeouts(now, world);
        self.next_deadline().into_iter().chain(timeouts).min()
    }

    /// Starting workers is on while supervising and not stopping (a fork failure may just
    /// have tripped the restart limit).
    pub(super) fn spawning(&self) -> bool {
        self.supervising && self.stopping.is_none()
    }

    /// The next live worker beyond the target not yet asked to stop nor being killed: the
    /// highest slots go first, so the live slots stay `0..target`.
    pub(super) fn next_excess(&self) -> Option<usize> {
        (self.target..self.slots.len()).rev().find(|&i| {
            let s = &self.slots[i];
            matches!(s.life, Life::Running(_))
        })
    }

    /// The wanted slot that should get a worker now, if any.
    pub(super) fn due(&self, now: Duration) -> Option<usize> {
        (0..self.target).find(|&i| self.slots.get(i).is_none_or(|s| s.pid().is_none() && s.not_before <= now))
    }

    /// Starts a worker in slot `i`, with backoff on failure; false if the fork failed.
    pub(super) fn spawn(&mut self, i: usize, now: Duration, world: &mut impl World) -> bool {
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, Slot::default);
        }
        match world.fork(i) {
            Ok(pid) => {
                self.started(i, pid, now, world);
                if self.fork_failures > 0 {
                    say!(world, Info, "fork works again after {} failures", self.fork_failures);
                    self.fork_failures = 0;
                }
                true
            }
            Err(error) => {
                let retry = self.slots[i].fork_failed(now, false);
                if self.fork_failures == 0 {
                    say!(world, Error, "cannot fork worker {i}: {error}; retrying in {}", Human(retry));
                }
                self.fork_failures += 1;
                self.last_failure =
                    Some(Failure { slot: i, exit: Exit::Vanished, came_up: false, kill: None, forked: false });
                self.fork_error = Some(error);
                if self.record_restart(now) {
                    self.give_up(now, world);
                }
                false
            }
        }
    }

    /// Worker `pid` was forked into slot `i` (which exists) at `now`.
    pub(super) fn started(&mut self, i: usize, pid: Pid, now: Duration, world: &mut impl World) {
        self.slots[i].start(pid, now);
        say!(world, Info, "worker {i} started (pid {pid})");
    }

    /// Ends by force the workers that outlived their stop timeout, and SIGKILLs the group of
    /// any that was told to end at once and has not within `FORCE_GRACE`.
    pub(super) fn enforce_stops(&mut self, now: Duration, world: &mut impl World) {
        let timeout = self.cfg.stop_timeout;
        for i in 0..self.slots.len() {
            if let Life::Stopping(pid, since) = self.slots[i].life
                && now >= since + timeout
            {
                let timeout = Human(timeout);
                say!(world, Warn, "worker {i} (pid {pid}) still running {timeout} after the stop request: killing it");
                self.force(i, Kill::StopTimeout, now, world);
            }
            if let Life::Forced(pid, why, at) = self.slots[i].life
                && now >= at + FORCE_GRACE
            {
                let grace = Human(FORCE_GRACE);
                say!(
                    world,
                    Warn,
                    "worker {i} (pid {pid}) did not end within {grace} of being told to: SIGKILLing its group"
                );
                self.kill_group(i, why, world);
            }
        }
    }

    /// Setup and perform timeouts; returns when to look again.
    pub(super) fn enforce_timeouts(&mut self, now: Duration, world: &mut impl World) -> Option<Duration> {
        let (setup, perform) = (self.cfg.setup_timeout, self.cfg.perform_timeout);
        if setup.is_none() && perform.is_none() {
            return None;
        }
        let mut next: Option<Duration> = None;
        for i in 0..self.slots.len() {
            let beat = world.heartbeat(i);
            let (overrun, again) = check_timeout(&self.slots[i], beat, setup, perform, now, self.armed_from);
            if let Some(overrun) = overrun {
                self.on_overrun(i, overrun, now, world);
            }
            next = next.into_iter().chain(again).min();
        }
        next
    }

    /// A setup overrun kills the worker; a perform overrun kills the worker (simple) or asks
    /// it to kill its perform child (forking), again if unheeded.
    pub(super) fn on_overrun(&mut self, i: usize, overrun: Overrun, now: Duration, world: &mut impl World) {
        let pid = self.slots[i].pid().unwrap_or_default();
        match overrun {
            Overrun::Setup { elapsed } => {
                let limit = self.cfg.setup_timeout.unwrap_or_default();
                self.notices.timeouts += 1;
                let (elapsed, limit) = (Human(elapsed), Human(limit));
                say!(
                    world,
                    Warn,
                    "worker {i} (pid {pid}): setup timeout: running {elapsed}, limit {limit}; killing it"
                );
                self.kill_group(i, Kill::SetupTimeout, world);
            }
            Overrun::Perform { started, elapsed } => {
                let (limit, strategy) = (self.cfg.perform_timeout.unwrap_or_default(), self.cfg.strategy);
                let first = self.slots[i].timeout_sent.is_none_or(|(s, _)| s != started);
                if first {
                    self.notices.timeouts += 1;
                    let child = self.cfg.noun.child();
                    let what = if strategy == Strategy::Simple { "the worker".into() } else { format!("its {child}") };
                    let (elapsed, limit) = (Human(elapsed), Human(limit));
                    let ran = format!("running {elapsed}, limit {limit}");
                    say!(world, Error, "worker {i} (pid {pid}): perform timeout: {ran}; killing {what}");
                }
                if strategy == Strategy::Simple {
                    world.perform_timed_out(i);
                    self.kill_group(i, Kill::PerformTimeout, world);
                } else {
                    world.kill_perform(i, pid, started);
                    self.slots[i].timeout_sent = Some((started, now));
                }
            }
        }
    }

    /// The earliest time something is due: a backoff ending (when spawning), a stop timeout,
    /// or the grace of a worker told to end at once.
    pub(super) fn next_deadline(&self) -> Option<Duration> {
        let spawning = self.spawning();
        let backoffs = (0..self.target)
            .filter(|_| spawning)
            .map(|i| self.slots.get(i).map_or(Some(Duration::ZERO), |s| s.pid().is_none().then_some(s.not_before)));
        let stops = self.slots.iter().map(|s| match s.life {
            Life::Forced(_, _, at) => Some(at + FORCE_GRACE),
            Life::Stopping(_, since) => Some(since + self.cfg.stop_timeout),
            _ => None,
        });
        backoffs.chain(stops).flatten().min()
    }
}
