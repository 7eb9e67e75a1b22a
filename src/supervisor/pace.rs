//! When a worker starts its next perform: fixed-rate pacing on an interval, and backoff after
//! failed performs. Plain arithmetic on the monotonic clock; the worker waits and performs.

use std::time::Duration;

use super::config::RECYCLE_SPREAD;
use super::slot::doubling;

/// How a worker paces its performs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pacing {
    /// At most one perform start per interval, on a fixed schedule.
    pub interval: Option<Duration>,
    /// After consecutive failed performs, wait `base` doubled per further failure, up to
    /// `max`.
    pub backoff: Option<(Duration, Duration)>,
    /// Slot k of N makes its first perform k × interval / N in, and keeps that phase.
    pub spread: bool,
    /// Starts fall on multiples of the interval on the wall clock (plus the spread).
    pub align: bool,
}

/// When slot `slot` of `workers` makes its first perform, `setup` having finished at `now`
/// (monotonic) and `wall` (since the Unix epoch): at once; with `spread` at
/// slot × interval / workers; with `align` at the next point whose wall-clock time is a
/// multiple of the interval, plus that offset. Only the first wait uses the wall clock;
/// the schedule then runs on the monotonic one.
pub fn first_due(pacing: &Pacing, slot: usize, workers: usize, now: Duration, wall: Duration) -> Duration {
    let Some(interval) = pacing.interval else { return now };
    let period = interval.as_nanos();
    let offset = if pacing.spread && workers > 0 { period * (slot % workers) as u128 / workers as u128 } else { 0 };
    let phase = if pacing.align { wall.as_nanos() % period } else { 0 };
    let wait = (offset + period - phase) % period;
    now + Duration::from_nanos(wait as u64)
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
    /// A schedule whose first perform is due at `first`.
    pub fn new(pacing: Pacing, first: Duration) -> Self {
        let grid = (pacing.spread || pacing.align).then_some(first);
        Pace { pacing, next: first, not_before: first, failures: 0, overran: false, grid }
    }

    /// The schedule a worker's predecessor in the slot left, its next perform due at `due`,
    /// so that the slot still starts at most one perform per interval. A start already past
    /// is made at `now`; with spreading or alignment, at the grid's next point instead.
    pub fn resume(pacing: Pacing, due: Duration, now: Duration) -> Self {
        let first = match pacing.interval.filter(|_| pacing.spread || pacing.align) {
            Some(interval) if due < now => {
                let (period, past) = (interval.as_nanos(), (now - due).as_nanos());
                due + Duration::from_nanos(past.div_ceil(period).saturating_mul(period) as u64)
            }
            _ => due.max(now),
        };
        Pace::new(pacing, first)
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
    /// interval, or the worker is a whole interval late (it was suspended), the schedule is
    /// re-anchored at `now`, so nothing bursts to catch up; a delay the backoff imposed
    /// re-anchors it silently. Smaller lateness (scheduling noise) keeps the schedule, so it
    /// does not drift.
    pub fn start(&mut self, now: Duration) -> Start {
        let Some(interval) = self.pacing.interval else {
            return Start { scheduled: now, late: None };
        };
        let late = now.saturating_sub(self.next);
        let start = if self.not_before > self.next {
            Start { scheduled: now, late: None }
        } else if self.overran || late >= interval {
            Start { scheduled: now, late: Some(late) }
        } else {
            Start { scheduled: self.next, late: None }
        };
        self.next = match self.grid {
            Some(grid) if start.scheduled > grid => {
                let period = interval.as_nanos();
                let past = (start.scheduled - grid).as_nanos();
                grid + Duration::from_nanos(((past / period + 1) * period) as u64)
            }
            _ => start.scheduled + interval,
        };
        self.overran = false;
        start
    }

    /// The perform finished at `now`, successfully or not; returns the backoff now imposed,
    /// if any.
    pub fn finished(&mut self, succeeded: bool, now: Duration) -> Option<Duration> {
        self.overran = self.pacing.interval.is_some() && now > self.next;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn paced(interval: u64, backoff: Option<(u64, u64)>) -> Pace {
        let backoff = backoff.map(|(b, m)| (ms(b), ms(m)));
        Pace::new(Pacing { interval: Some(ms(interval)), backoff, ..Pacing::default() }, ms(1000))
    }

    #[test]
    fn fixed_rate_does_not_drift_with_perform_time_or_wake_up_noise() {
        let mut p = paced(100, None);
        for k in 0..10u64 {
            let due = p.due();
            assert_eq!(due, ms(1000 + 100 * k));
            // Woken 0.3 ms late, the perform takes 40 ms.
            let start = p.start(due + Duration::from_micros(300));
            assert_eq!(start, Start { scheduled: due, late: None });
            assert_eq!(p.finished(true, due + ms(40)), None);
        }
    }

    #[test]
    fn an_overrun_starts_at_once_warns_once_and_re_anchors() {
        let mut p = paced(100, None);
        p.start(ms(1000));
        p.finished(true, ms(1250));
        assert_eq!(p.due(), ms(1100), "due at once");
        assert_eq!(p.start(ms(1250)), Start { scheduled: ms(1250), late: Some(ms(150)) });
        p.finished(true, ms(1260));
        assert_eq!(p.due(), ms(1350), "re-anchored, no burst");
        assert_eq!(p.start(ms(1350)).late, None);
    }

    #[test]
    fn a_small_overrun_also_re_anchors() {
        let mut p = paced(100, None);
        p.start(ms(1000));
        p.finished(true, ms(1101));
        assert_eq!(p.start(ms(1101)), Start { scheduled: ms(1101), late: Some(ms(1)) });
        assert_eq!(p.due(), ms(1201));
    }

    #[test]
    fn a_suspension_gives_one_perform_at_once_then_re_anchors() {
        let mut p = paced(100, None);
        p.start(ms(1000));
        p.finished(true, ms(1010));
        // Stopped while waiting for 1100; resumed at 1730.
        assert_eq!(p.start(ms(1730)), Start { scheduled: ms(1730), late: Some(ms(630)) });
        p.finished(true, ms(1740));
        assert_eq!(p.due(), ms(1830));
    }

    #[test]
    fn a_resumed_schedule_waits_for_its_due_start_or_starts_at_once_on_its_grid() {
        let pacing = Pacing { interval: Some(ms(100)), spread: true, ..Pacing::default() };
        let mut p = Pace::resume(pacing, ms(1030), ms(1000));
        assert_eq!(p.due(), ms(1030), "the predecessor's next start");
        assert_eq!(p.start(ms(1030)).scheduled, ms(1030));
        assert_eq!(p.due(), ms(1130));
        let mut late = Pace::resume(pacing, ms(1030), ms(1250));
        assert_eq!(late.due(), ms(1330), "past due: the grid's next point");
        assert_eq!(late.start(ms(1330)), Start { scheduled: ms(1330), late: None });
        assert_eq!(late.due(), ms(1430));
        let free = Pacing { interval: Some(ms(100)), ..Pacing::default() };
        let mut p = Pace::resume(free, ms(1030), ms(1250));
        assert_eq!(p.due(), ms(1250), "without a grid: at once");
        p.start(ms(1250));
        assert_eq!(p.due(), ms(1350), "re-anchored there");
    }

    #[test]
    fn failures_back_off_doubling_to_the_cap_and_a_success_resets() {
        let mut p = Pace::new(Pacing { backoff: Some((ms(100), ms(300))), ..Pacing::default() }, ms(0));
        let mut now = ms(0);
        for want in [100, 200, 300, 300] {
            assert_eq!(p.start(now).late, None);
            assert_eq!(p.finished(false, now), Some(ms(want)));
            assert_eq!(p.due(), now + ms(want));
            now = p.due();
        }
        p.start(now);
        assert_eq!(p.finished(true, now), None);
        assert_eq!(p.due(), now, "no wait after a success");
        assert_eq!(p.finished(false, now), Some(ms(100)), "the streak starts again");
    }

    #[test]
    fn with_an_interval_the_later_of_schedule_and_backoff_applies_silently() {
        let mut p = paced(100, Some((50, 1000)));
        p.start(ms(1000));
        p.finished(false, ms(1010));
        assert_eq!(p.due(), ms(1100), "the schedule is later than 50 ms of backoff");
        p.start(ms(1100));
        p.finished(false, ms(1110));
        p.start(ms(1200));
        p.finished(false, ms(1210));
        assert_eq!(p.due(), ms(1410), "200 ms of backoff is later than the schedule");
        assert_eq!(p.start(ms(1410)), Start { scheduled: ms(1410), late: None });
        assert_eq!(p.due(), ms(1510));
    }

    #[test]
    fn without_backoff_failures_do_not_wait() {
        let mut p = Pace::new(Pacing::default(), ms(0));
        p.start(ms(0));
        assert_eq!(p.finished(false, ms(5)), None);
        assert_eq!(p.due(), ms(0));
    }

    #[test]
    fn recycle_limits_spread_between_n_and_a_quarter_more() {
        let limits: Vec<u64> = (0..1000u64).map(|i| recycle_limit(100, i * 1_000_003)).collect();
        assert!(limits.iter().all(|&l| (100..=125).contains(&l)), "{limits:?}");
        let distinct: std::collections::HashSet<_> = limits.iter().collect();
        assert!(distinct.len() > 20, "only {} distinct limits", distinct.len());
        assert_eq!(recycle_limit(1, 7), 1);
    }

    #[test]
    fn spreading_gives_each_slot_a_stable_phase() {
        let pacing = Pacing { interval: Some(ms(1000)), spread: true, ..Pacing::default() };
        let dues: Vec<Duration> = (0..4).map(|k| first_due(&pacing, k, 4, ms(5000), ms(0))).collect();
        assert_eq!(dues, [ms(5000), ms(5250), ms(5500), ms(5750)]);
        // Slot 1 overruns; its schedule comes back to its own phase, 250 ms past the second.
        let mut p = Pace::new(pacing, dues[1]);
        p.start(ms(5250));
        p.finished(true, ms(6700));
        assert_eq!(p.start(ms(6700)).late, Some(ms(450)));
        assert_eq!(p.due(), ms(7250));
    }

    #[test]
    fn alignment_waits_for_the_next_multiple_of_the_interval_on_the_wall_clock() {
        let pacing = Pacing { interval: Some(ms(30_000)), align: true, ..Pacing::default() };
        // At :12.5 on the wall clock, the next :00 or :30 is 17.5 s away.
        assert_eq!(first_due(&pacing, 0, 1, ms(100), ms(1_700_000_022_500)), ms(17_600));
        assert_eq!(first_due(&pacing, 0, 1, ms(100), ms(1_700_000_010_000)), ms(100), "on the mark");
        let both = Pacing { spread: true, ..pacing };
        // Slot 1 of 2 keeps :15 and :45.
        assert_eq!(first_due(&both, 1, 2, ms(100), ms(1_700_000_022_500)), ms(2_600));
        assert_eq!(first_due(&Pacing::default(), 3, 4, ms(100), ms(7)), ms(100), "no interval: at once");
    }
}
