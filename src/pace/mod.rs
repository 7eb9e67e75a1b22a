//! When a worker starts its next perform (fixed-rate pacing on an interval or a calendar
//! schedule, backoff after failed performs) and when the master restarts a worker. Plain
//! arithmetic on a clock (the monotonic one; the wall clock for a calendar): the worker waits
//! and performs, the master forks.

mod calendar;

use std::time::Duration;

use crate::cron::Cron;
use calendar::following;
pub use calendar::{missed, splay_offset, unknown_zone, wall_now};

/// The first wait after a failed perform; it doubles with each further failure in a row.
pub const PERFORM_BACKOFF_BASE: Duration = Duration::from_millis(100);
/// The longest wait after failed performs.
pub const PERFORM_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A worker's `max_performs` limit is drawn between n and n + n / `RECYCLE_SPREAD`, so that
/// workers started together do not all recycle at once.
const RECYCLE_SPREAD: u64 = 4;
/// The first restart backoff after a failed start; it doubles with each further quick failure.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// A calendar's start this late is late, even with no other start missed (a daily job after a
/// suspension).
const CALENDAR_LATE: Duration = Duration::from_secs(60);
/// The longest restart backoff.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// How a worker paces its performs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pacing {
    /// At most one perform start per interval, on a fixed schedule.
    pub interval: Option<Duration>,
    /// Starts on a calendar schedule, on the wall clock (exclusive with `interval`).
    pub cron: Option<Cron>,
    /// Every start of a slot moves later by a fixed offset below this, from the host's name
    /// and the slot.
    pub splay: Option<Duration>,
    /// After consecutive failed performs, wait `base` doubled per further failure, up to
    /// `max`.
    pub backoff: Option<(Duration, Duration)>,
    /// Slot k of N makes its first perform k × interval / N in, and keeps that phase.
    pub spread: bool,
    /// Starts fall on multiples of the interval on the wall clock (plus the spread).
    pub align: bool,
}

impl Pacing {
    /// Starts follow a schedule: an interval or a calendar.
    pub fn scheduled(&self) -> bool {
        self.interval.is_some() || self.cron.is_some()
    }

    /// The clock the schedule runs on: the wall clock (since the Unix epoch) for a calendar,
    /// else the monotonic one.
    pub fn now(&self) -> Duration {
        match self.cron {
            Some(_) => wall_now(),
            None => crate::sys::now(),
        }
    }
}

/// When slot `slot` of `workers` makes its first perform, `setup` having finished at `now`
/// (on the schedule's clock) and `wall` (since the Unix epoch), every start `splay` later: at
/// once without a schedule; on a calendar at its next start; on an interval at once, with
/// `spread` at slot × interval / workers, with `align` at the next point whose wall-clock time
/// is a multiple of the interval, plus that offset. Only an interval's first wait uses the
/// wall clock; its schedule then runs on the monotonic one.
pub fn first_due(
    pacing: &Pacing,
    slot: usize,
    workers: usize,
    now: Duration,
    wall: Duration,
    splay: Duration,
) -> Duration {
    if let Some(cron) = &pacing.cron {
        return following(cron, splay, now);
    }
    let Some(interval) = pacing.interval else { return now };
    let period = interval.as_nanos();
    let offset = if pacing.spread && workers > 0 { period * (slot % workers) as u128 / workers as u128 } else { 0 };
    let phase = if pacing.align { wall.as_nanos() % period } else { 0 };
    let wait = (offset + period - phase) % period;
    now + Duration::from_nanos(wait as u64) + splay
}

/// A perform about to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start {
    /// When it was due on the schedule (its actual start when there is no interval, or when
    /// the schedule was re-anchored).
    pub scheduled: Duration,
    /// It starts this late against the schedule, because the last perform overran the
    /// interval or the worker was suspended: the schedule is re-anchored to now.
    pub late: Option<Duration>,
}

/// One worker's schedule.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    pacing: Pacing,
    /// This slot's splay: a calendar's starts are this much later.
    splay: Duration,
    /// The scheduled start of the next perform.
    next: Duration,
    /// No perform starts before this (backoff).
    not_before: Duration,
    /// Failed performs in a row.
    failures: u32,
    /// The last perform ended after the next one was due.
    overran: bool,
    /// With spreading or alignment, a point of the grid the starts keep to: a re-anchored
    /// schedule resumes at the next grid point instead of at the late start.
    grid: Option<Duration>,
}

impl Pace {
    /// A schedule whose first perform is due at `first`, a calendar's starts `splay` later.
    pub fn new(pacing: Pacing, first: Duration, splay: Duration) -> Self {
        let grid = (pacing.spread || pacing.align).then_some(first);
        Pace { pacing, splay, next: first, not_before: first, failures: 0, overran: false, grid }
    }

    /// The schedule a worker's predecessor in the slot left, its next perform due at `due`,
    /// so that the slot still starts at most one perform per period. A start already past
    /// is made at `now` (one, however many were missed); with spreading or alignment, at the
    /// grid's next point instead.
    pub fn resume(pacing: Pacing, due: Duration, now: Duration, splay: Duration) -> Self {
        let first = match pacing.interval.filter(|_| pacing.spread || pacing.align) {
            Some(interval) if due < now => {
                let (period, past) = (interval.as_nanos(), (now - due).as_nanos());
                due + Duration::from_nanos(past.div_ceil(period).saturating_mul(period) as u64)
            }
            _ => due.max(now),
        };
        Pace::new(pacing, first, splay)
    }

    /// When the next perform is due on the schedule, backoff aside.
    pub fn next(&self) -> Duration {
        self.next
    }

    /// Whether failed performs in a row make the next one wait.
    pub fn backing_off(&self) -> bool {
        self.failures > 0
    }

    /// When the next perform may start: its scheduled time, or the end of a backoff if later.
    pub fn due(&self) -> Duration {
        self.next.max(self.not_before)
    }

    /// A perform starts at `now` (at or after `due`). If the last perform overran the
    /// schedule, or the worker missed a whole period (it was suspended, or a calendar's clock
    /// jumped), the schedule is re-anchored at `now`, so nothing bursts to catch up; a delay
    /// the backoff imposed re-anchors it silently. Smaller lateness (scheduling noise) keeps
    /// the schedule, so it does not drift.
    pub fn start(&mut self, now: Duration) -> Start {
        if !self.pacing.scheduled() {
            return Start { scheduled: now, late: None };
        }
        let late = now.saturating_sub(self.next);
        let missed = match (&self.pacing.cron, self.pacing.interval) {
            (Some(cron), _) => late >= CALENDAR_LATE || now >= following(cron, self.splay, self.next),
            (None, Some(interval)) => late >= interval,
            (None, None) => false,
        };
        let start = if self.not_before > self.next {
            Start { scheduled: now, late: None }
        } else if self.overran || missed {
            Start { scheduled: now, late: Some(late) }
        } else {
            Start { scheduled: self.next, late: None }
        };
        self.next = match (&self.pacing.cron, self.pacing.interval, self.grid) {
            // After the later of now and the start due: a clock set back does not run a
            // start twice.
            (Some(cron), ..) => following(cron, self.splay, now.max(self.next)),
            (None, Some(interval), Some(grid)) if start.scheduled > grid => {
                let period = interval.as_nanos();
                let past = (start.scheduled - grid).as_nanos();
                grid + Duration::from_nanos(((past / period + 1) * period) as u64)
            }
            (None, Some(interval), _) => start.scheduled + interval,
            (None, None, _) => now,
        };
        self.overran = false;
        start
    }

    /// The perform finished at `now`, successfully or not; returns the backoff now imposed,
    /// if any.
    pub fn finished(&mut self, succeeded: bool, now: Duration) -> Option<Duration> {
        self.overran = self.pacing.scheduled() && now > self.next;
        if succeeded {
            self.failures = 0;
            return None;
        }
        let (base, max) = self.pacing.backoff?;
        self.failures = self.failures.saturating_add(1);
        let delay = doubling(self.failures, base, max);
        self.not_before = now + delay;
        Some(delay)
    }
}

/// A worker's own `max_performs` limit: `n` plus up to `n / RECYCLE_SPREAD`, drawn from
/// `seed` (the clock at its fork), so that workers started together recycle apart.
pub fn recycle_limit(n: u64, seed: u64) -> u64 {
    let mixed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    n + mixed % (n / RECYCLE_SPREAD + 1)
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

#[cfg(test)]
mod tests;
