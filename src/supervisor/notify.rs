//! What the master tells its service manager (systemd's `sd_notify`) and a daemon's launcher:
//! readiness, reloads, stops, a watchdog keep-alive and a one-line status. Decided here from
//! the supervisor's state; the driver only sends the text, and sends nothing when no one
//! listens.

use std::fmt;
use std::time::Duration;

use super::{Cause, FORCE_GRACE, Supervisor, World, say};
use crate::health::Failing;
use crate::log::{Human, Workers};

/// One message, as `sd_notify` words it (`Display` gives the datagram).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Every wanted worker has finished `setup`: at start, and at the end of a reload.
    Ready,
    /// A rolling restart (HUP) began at `at`, on `CLOCK_MONOTONIC`, which systemd 253's
    /// `Type=notify-reload` needs alongside `RELOADING=1`.
    Reloading {
        at: Duration,
    },
    /// A stop began (not when it ends: a message sent just before exit can be lost).
    Stopping,
    /// The keep-alive, sent from the master's own loop so that a wedged master misses it.
    Watchdog,
    /// The current phase (start, reload) may take this much longer.
    ExtendTimeout(Duration),
    Status(Status),
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Ready => f.write_str("READY=1"),
            Notice::Reloading { at } => write!(f, "RELOADING=1\nMONOTONIC_USEC={}", at.as_micros()),
            Notice::Stopping => f.write_str("STOPPING=1"),
            Notice::Watchdog => f.write_str("WATCHDOG=1"),
            Notice::ExtendTimeout(by) => write!(f, "EXTEND_TIMEOUT_USEC={}", by.as_micros()),
            Notice::Status(status) => write!(f, "STATUS={status}"),
        }
    }
}

/// Where the pool stands, for `STATUS=`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// What the pool is doing: starting, running, rolling restart, stopping.
    pub phase: &'static str,
    /// Live workers that finished `setup`, and the target.
    pub up: usize,
    pub target: usize,
    /// Workers that ended unasked, and forks that failed.
    pub restarts: u64,
    /// Setup and perform timeouts.
    pub timeouts: u64,
    /// Performs that started late against the interval's schedule.
    pub late_starts: u64,
    /// Performs failing in a row, if they are.
    pub failing: Option<Failing>,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}/{} workers up; ", self.phase, self.up, self.target)?;
        if let Some(failing) = self.failing {
            write!(f, "{failing}; ")?;
        }
        write!(f, "{} restarts, {} timeouts, {} late starts", self.restarts, self.timeouts, self.late_starts)
    }
}

/// What has been told so far, and when the watchdog is due.
#[derive(Debug, Default)]
pub struct Notices {
    /// When supervising began.
    pub began: Duration,
    /// The pool has been up once: `READY=1` was sent.
    pub ready: bool,
    /// The last status sent.
    pub status: Option<Status>,
    /// How often to send `WATCHDOG=1`, and when next.
    pub watchdog: Option<(Duration, Duration)>,
    pub restarts: u64,
    pub timeouts: u64,
    /// A HUP came before the pool was up: the roll begins once it is.
    pub roll_held: bool,
    /// A service manager reads `STATUS=`.
    pub listened: bool,
}

impl Supervisor {
    /// Sends `WATCHDOG=1` every `every` from now on (half of systemd's `WATCHDOG_USEC`).
    pub fn watchdog(&mut self, every: Duration) {
        self.notices.watchdog = Some((every, Duration::ZERO));
    }

    /// A service manager reads `STATUS=`: while performs fail, it is refreshed every second.
    pub fn listened(&mut self) {
        self.notices.listened = true;
    }

    /// At the start: with a setup timeout, the start may take that long (plus the time to kill
    /// an overrun) whatever systemd's own start timeout is.
    pub(super) fn notify_start(&mut self, now: Duration, world: &mut impl World) {
        self.notices.began = now;
        if let Some(setup) = self.cfg.setup_timeout {
            world.notify(&Notice::ExtendTimeout(setup + FORCE_GRACE));
        }
    }

    /// Once reaped, before anything starts: the first time the pool is up, `READY=1`, and a
    /// roll held until then begins.
    pub(super) fn notice_up(&mut self, now: Duration, world: &mut impl World) {
        if self.notices.ready || self.stopping.is_some() {
            return;
        }
        let up = self.up(world);
        if up >= self.target {
            self.notices.ready = true;
            let after = Human(now.saturating_sub(self.notices.began));
            say!(world, Info, "ready: {} up in {after}", Workers(up));
            world.notify(&Notice::Ready);
            if std::mem::take(&mut self.notices.roll_held) {
                self.begin_roll(now, world);
            }
        }
    }

    /// After each turn: the status when it changed, and the watchdog when due. Returns when
    /// the watchdog is next due.
    pub(super) fn notify_turn(&mut self, now: Duration, world: &mut impl World) -> Option<Duration> {
        let up = self.up(world);
        let status = self.status(up, now, world);
        if self.notices.status != Some(status) {
            self.notices.status = Some(status);
            world.notify(&Notice::Status(status));
        }
        // While performs fail, the status says so afresh every second; with `max_failures`,
        // the count is looked at every second even if a worker's wake-up was lost (EPERM
        // after a `setuid` in `setup`).
        let look =
            self.cfg.max_failures.is_some() && self.spawning() || status.failing.is_some() && self.notices.listened;
        let refresh = look.then(|| now + Duration::from_secs(1));
        let Some((every, next)) = self.notices.watchdog else { return refresh };
        if now < next {
            return refresh.into_iter().chain([next]).min();
        }
        world.notify(&Notice::Watchdog);
        // From now, not from when it was due: a late turn gives no burst.
        let next = now + every;
        self.notices.watchdog = Some((every, next));
        refresh.into_iter().chain([next]).min()
    }

    /// Gives up, with a graceful stop, once `max_failures` performs in a row have failed.
    pub(super) fn check_runs(&mut self, now: Duration, world: &mut impl World) {
        let Some(n) = self.cfg.max_failures.filter(|_| self.spawning()) else { return };
        let in_a_row = world.runs(self.slots.len()).in_a_row;
        if in_a_row >= n {
            self.failing = Some(in_a_row);
            let noun = self.cfg.noun;
            say!(world, Error, "{in_a_row} {noun}s failed in a row ({} {n}): giving up", noun.max_failures());
            self.begin_stop(Cause::Failing(noun), now, world);
        }
    }

    /// Where the pool stands now, as `STATUS=` would say.
    pub fn status_now(&self, now: Duration, world: &impl World) -> Status {
        self.status(self.up(world), now, world)
    }

    /// Live workers in wanted slots that finished `setup`.
    fn up(&self, world: &impl World) -> usize {
        let wanted = self.slots.len().min(self.target);
        (0..wanted).filter(|&i| self.slots[i].pid().is_some() && world.heartbeat(i).ready).count()
    }

    fn status(&self, up: usize, now: Duration, world: &impl World) -> Status {
        let phase = if self.stopping.is_some() {
            "stopping"
        } else if self.roll.is_some() {
            "rolling restart"
        } else if self.notices.ready {
            "running"
        } else {
            "starting"
        };
        let live = self.slots.iter().enumerate().filter(|(_, s)| s.pid().is_some());
        let late_starts = self.late_starts + live.map(|(i, _)| u64::from(world.heartbeat(i).late_starts)).sum::<u64>();
        let (restarts, timeouts) = (self.notices.restarts, self.notices.timeouts);
        let failing = world.runs(self.slots.len()).failing(now);
        Status { phase, up, target: self.target, restarts, timeouts, late_starts, failing }
    }
}
