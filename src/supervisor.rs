//! The supervisor's decisions over plain data: configuration checks, which slot gets a worker
//! and when, backoff, which worker to retire, deadlines, timeouts and the restart limit. No
//! process is forked, signalled or waited for here; `master` does that and asks this module
//! what to do. Time is a `Duration` on the monotonic clock (`sys::now`).

use std::collections::VecDeque;
use std::time::Duration;

use crate::Error;
use crate::sys::Pid;

/// The largest pool: the size of the shared heartbeat table, and far past what a machine's
/// process limit usually allows.
pub const MAX_WORKERS: usize = 4096;
/// The first backoff after a failed start; it doubles with each further quick failure.
pub const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// The longest backoff.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A worker that came up and lived this long ends its slot's failure streak.
pub const HEALTHY_UPTIME: Duration = Duration::from_secs(10);
/// The shortest timeout accepted: below it, scheduling noise decides, not the job.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(10);
/// The longest timeout accepted: a year is "never" for a worker loop, and keeps every
/// deadline sum far from overflow.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 86_400);
/// Waking this late past a deadline means the master was suspended, not slow.
pub const OVERSLEEP: Duration = Duration::from_secs(1);
/// How long to wait before asking a worker again to kill an overdue perform child.
pub const TIMEOUT_RETRY: Duration = Duration::from_secs(1);

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

/// The master's settings, checked before anything forks.
#[derive(Clone, Debug)]
pub struct Config {
    pub workers: usize,
    pub strategy: Strategy,
    pub stop_timeout: Duration,
    pub setup_timeout: Option<Duration>,
    pub perform_timeout: Option<Duration>,
    pub max_restarts: Option<(u32, Duration)>,
    pub allow_threads: bool,
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
        ] {
            if let Some(t) = t.filter(|&t| t < MIN_TIMEOUT) {
                return bad(format!("{name} of {t:?} is shorter than the minimum of {MIN_TIMEOUT:?}"));
            }
            if t.is_some_and(|t| t > MAX_TIMEOUT) {
                return bad(format!("{name} is longer than a year; leave the option unset for no timeout"));
            }
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

/// The delay before replacing a worker that ended unasked, `streak` being the slot's number of
/// quick failures including this one (at least 1). A worker that came up (finished `setup`) is
/// replaced at once the first time; each further quick failure, and every failed start, waits
/// twice as long as the one before, from `BACKOFF_BASE` up to `BACKOFF_MAX`.
pub fn restart_delay(streak: u32, came_up: bool) -> Duration {
    let doublings = streak.saturating_add(u32::from(!came_up)).saturating_sub(1);
    if doublings == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32.checked_shl(doublings - 1).unwrap_or(u32::MAX);
    BACKOFF_BASE.saturating_mul(factor).min(BACKOFF_MAX)
}

/// Why the master SIGKILLed a worker's process group.
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

/// One place in the pool. Slot `i` is the worker that `Context::worker()` calls `i`.
#[derive(Clone, Debug, Default)]
pub struct Slot {
    /// The live (not yet reaped) worker, if any.
    pub pid: Option<Pid>,
    /// When that worker was forked.
    pub started: Duration,
    /// When it was asked to stop (TERM); it is SIGKILLed at this plus the stop timeout.
    pub stop_sent: Option<Duration>,
    /// Why it was SIGKILLed, if it was.
    pub killed: Option<Kill>,
    /// Quick failures in a row (failed starts, and deaths before `HEALTHY_UPTIME`).
    pub streak: u32,
    /// No worker is started here before this time (backoff).
    pub not_before: Duration,
    /// The overdue forking perform (its start) the worker was asked to kill, and when.
    pub timeout_sent: Option<(Duration, Duration)>,
}

/// What `Pool::exited` made of a worker's exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It had been asked to stop (retired, or a stop of the pool).
    Stopped,
    /// It ended unasked; if the slot is still wanted, it is restarted after `delay`.
    Died { delay: Duration },
}

/// The slots and how many workers are wanted.
#[derive(Clone, Debug, Default)]
pub struct Pool {
    pub slots: Vec<Slot>,
    pub target: usize,
}

impl Pool {
    /// Number of live workers.
    pub fn live(&self) -> usize {
        self.slots.iter().filter(|s| s.pid.is_some()).count()
    }

    /// The slot of worker `pid`.
    pub fn find(&self, pid: Pid) -> Option<usize> {
        self.slots.iter().position(|s| s.pid == Some(pid))
    }

    /// The wanted slot that should get a worker now, if any.
    pub fn due(&self, now: Duration) -> Option<usize> {
        (0..self.target).find(|&i| self.slots.get(i).is_none_or(|s| s.pid.is_none() && s.not_before <= now))
    }

    /// The lowest slot with no worker.
    pub fn free(&self) -> usize {
        self.slots.iter().position(|s| s.pid.is_none()).unwrap_or(self.slots.len())
    }

    /// The next live worker beyond the target not yet asked to stop: the highest slots go
    /// first, so the live slots stay `0..target`.
    pub fn next_excess(&self) -> Option<usize> {
        (self.target..self.slots.len())
            .rev()
            .find(|&i| self.slots[i].pid.is_some() && self.slots[i].stop_sent.is_none())
    }

    /// Records that slot `i` got worker `pid` at `now`.
    pub fn started(&mut self, i: usize, pid: Pid, now: Duration) {
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, Slot::default);
        }
        let s = &mut self.slots[i];
        *s = Slot { pid: Some(pid), started: now, streak: s.streak, ..Slot::default() };
    }

    /// Records that the worker in slot `i` was reaped at `now`; `came_up` tells whether it had
    /// finished `setup`.
    pub fn exited(&mut self, i: usize, now: Duration, came_up: bool) -> Verdict {
        let s = &mut self.slots[i];
        let asked = s.stop_sent.is_some() || matches!(s.killed, Some(Kill::Immediate | Kill::StopTimeout));
        let lived = now.saturating_sub(s.started);
        *s = Slot { streak: s.streak, not_before: now, ..Slot::default() };
        if asked {
            return Verdict::Stopped;
        }
        if came_up && lived >= HEALTHY_UPTIME {
            s.streak = 0;
        }
        s.streak = s.streak.saturating_add(1);
        let delay = restart_delay(s.streak, came_up);
        s.not_before = now + delay;
        Verdict::Died { delay }
    }

    /// Records that forking a worker for slot `i` failed at `now`; returns the retry delay.
    pub fn fork_failed(&mut self, i: usize, now: Duration) -> Duration {
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, Slot::default);
        }
        let s = &mut self.slots[i];
        s.streak = s.streak.saturating_add(1);
        let delay = restart_delay(s.streak, false);
        s.not_before = now + delay;
        delay
    }

    /// The earliest time something is due: a backoff ending (when `spawning`) or a stopping
    /// worker's kill deadline.
    pub fn next_deadline(&self, stop_timeout: Duration, spawning: bool) -> Option<Duration> {
        let backoffs = (0..self.target)
            .filter(|_| spawning)
            .map(|i| self.slots.get(i).map_or(Some(Duration::ZERO), |s| s.pid.is_none().then_some(s.not_before)));
        let kills = self
            .slots
            .iter()
            .map(|s| s.stop_sent.filter(|_| s.pid.is_some() && s.killed.is_none()).map(|t| t + stop_timeout));
        backoffs.chain(kills).flatten().min()
    }

    /// Counts the stop timeouts of workers already asked to stop from `now`: time the master
    /// spent suspended is not theirs to answer for.
    pub fn rearm_stops(&mut self, now: Duration) {
        for s in &mut self.slots {
            s.stop_sent = s.stop_sent.map(|t| t.max(now));
        }
    }

    /// The next live worker asked to stop more than `stop_timeout` ago and not killed yet.
    pub fn next_overdue(&self, now: Duration, stop_timeout: Duration) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.pid.is_some() && s.killed.is_none() && s.stop_sent.is_some_and(|t| now >= t + stop_timeout))
    }
}

/// A live worker's heartbeat, as read from shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// `setup` returned `Ok`.
    pub setup_done: bool,
    /// When the running perform started, if one is running.
    pub perform_started: Option<Duration>,
}

/// A worker that overran a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overrun {
    /// Its `setup` has run for `elapsed`.
    Setup { elapsed: Duration },
    /// The perform that started at `started` has run for `elapsed`.
    Perform { started: Duration, elapsed: Duration },
}

/// Whether the worker in `slot` overran `setup_timeout` or `perform_timeout`, and otherwise
/// when to look again. Deadlines count from `armed_from` at the earliest: the time the master
/// last came back from a suspension, which must not count against the workers.
pub fn check_timeout(
    slot: &Slot,
    beat: Heartbeat,
    setup_timeout: Option<Duration>,
    perform_timeout: Option<Duration>,
    now: Duration,
    armed_from: Duration,
) -> (Option<Overrun>, Option<Duration>) {
    if slot.pid.is_none() || slot.killed.is_some() {
        return (None, None);
    }
    // A perform that starts after `now` cannot overrun before a full limit from now: while the
    // worker is in `setup` or between performs, that is when to look again.
    let next_perform = perform_timeout.map(|limit| now + limit);
    if !beat.setup_done {
        let Some(limit) = setup_timeout else { return (None, next_perform) };
        let deadline = slot.started.max(armed_from) + limit;
        return if now >= deadline {
            (Some(Overrun::Setup { elapsed: now.saturating_sub(slot.started) }), None)
        } else {
            (None, next_perform.into_iter().chain([deadline]).min())
        };
    }
    let Some(limit) = perform_timeout else { return (None, None) };
    let Some(started) = beat.perform_started else { return (None, next_perform) };
    let deadline = match slot.timeout_sent {
        Some((sent_for, sent_at)) if sent_for == started => sent_at + TIMEOUT_RETRY,
        _ => started.max(armed_from) + limit,
    };
    if now >= deadline {
        // Look again to repeat the request if it went unheeded, and in time for the next
        // perform, which may start as soon as this one is killed.
        let next = now + TIMEOUT_RETRY.min(limit);
        (Some(Overrun::Perform { started, elapsed: now.saturating_sub(started) }), Some(next))
    } else {
        (None, Some(deadline))
    }
}

/// Whether waking at `now` for a wait planned to end at `planned` means the master was
/// suspended (SIGSTOP, a stopped VM) rather than merely late.
pub fn overslept(planned: Option<Duration>, now: Duration) -> bool {
    planned.is_some_and(|p| now > p + OVERSLEEP)
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

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const S: Duration = Duration::from_secs(1);

    #[test]
    fn first_death_after_coming_up_restarts_at_once_then_backs_off() {
        let delays: Vec<_> = (1..=6).map(|k| restart_delay(k, true)).collect();
        assert_eq!(delays, [Duration::ZERO, 100 * MS, 200 * MS, 400 * MS, 800 * MS, 1600 * MS]);
    }

    #[test]
    fn failed_starts_back_off_from_the_first_and_cap_at_thirty_seconds() {
        let delays: Vec<_> = (1..=4).map(|k| restart_delay(k, false)).collect();
        assert_eq!(delays, [100 * MS, 200 * MS, 400 * MS, 800 * MS]);
        assert_eq!(restart_delay(10, false), BACKOFF_MAX);
        assert_eq!(restart_delay(u32::MAX, false), BACKOFF_MAX);
        assert_eq!(restart_delay(u32::MAX, true), BACKOFF_MAX);
    }

    #[test]
    fn quick_deaths_build_a_streak_and_a_healthy_run_ends_it() {
        let mut pool = Pool { target: 1, ..Pool::default() };
        let mut now = 100 * S;
        let mut delays = Vec::new();
        for pid in 1..=4 {
            pool.started(0, pid, now);
            now += S;
            match pool.exited(0, now, true) {
                Verdict::Died { delay } => delays.push(delay),
                v => panic!("{v:?}"),
            }
            assert_eq!(pool.due(now), (delays.last() == Some(&Duration::ZERO)).then_some(0));
            now += delays.last().copied().unwrap();
            assert_eq!(pool.due(now), Some(0));
        }
        assert_eq!(delays, [Duration::ZERO, 100 * MS, 200 * MS, 400 * MS]);
        // A worker that lived past HEALTHY_UPTIME is replaced at once again.
        pool.started(0, 5, now);
        now += HEALTHY_UPTIME;
        assert_eq!(pool.exited(0, now, true), Verdict::Died { delay: Duration::ZERO });
        assert_eq!(pool.slots[0].streak, 1);
    }

    #[test]
    fn a_long_lived_worker_that_never_came_up_does_not_reset_the_streak() {
        let mut pool = Pool { target: 1, ..Pool::default() };
        pool.slots.push(Slot { streak: 3, ..Slot::default() });
        pool.started(0, 9, S);
        assert_eq!(pool.exited(0, S + HEALTHY_UPTIME * 2, false), Verdict::Died { delay: 800 * MS });
    }

    #[test]
    fn workers_asked_to_stop_are_not_failures() {
        let mut pool = Pool { target: 2, ..Pool::default() };
        pool.started(0, 10, S);
        pool.started(1, 11, S);
        pool.slots[0].stop_sent = Some(2 * S);
        pool.slots[1].killed = Some(Kill::StopTimeout);
        assert_eq!(pool.exited(0, 3 * S, true), Verdict::Stopped);
        assert_eq!(pool.exited(1, 3 * S, true), Verdict::Stopped);
        assert_eq!(pool.slots[0].streak, 0);
        // Timeout kills are failures.
        pool.started(0, 12, 4 * S);
        pool.slots[0].killed = Some(Kill::PerformTimeout);
        assert!(matches!(pool.exited(0, 5 * S, true), Verdict::Died { .. }));
    }

    #[test]
    fn scaling_down_retires_the_highest_slots_and_up_fills_the_lowest_free() {
        let mut pool = Pool { target: 4, ..Pool::default() };
        for i in 0..4 {
            assert_eq!(pool.due(S), Some(i));
            pool.started(i, 100 + i as Pid, S);
        }
        assert_eq!(pool.due(S), None);
        pool.target = 2;
        assert_eq!(pool.next_excess(), Some(3));
        pool.slots[3].stop_sent = Some(S);
        assert_eq!(pool.next_excess(), Some(2));
        pool.slots[2].stop_sent = Some(S);
        assert_eq!(pool.next_excess(), None);
        // Not replaced: the slots are beyond the target.
        assert_eq!(pool.exited(3, 2 * S, true), Verdict::Stopped);
        assert_eq!(pool.due(2 * S), None);
        pool.target = 4;
        assert_eq!(pool.due(2 * S), Some(3)); // slot 2 is still stopping
        assert_eq!(pool.free(), 3);
        assert_eq!(pool.live(), 3);
        assert_eq!(pool.find(101), Some(1));
        assert_eq!(pool.find(999), None);
    }

    #[test]
    fn deadlines_cover_backoffs_and_stop_timeouts() {
        let mut pool = Pool { target: 2, ..Pool::default() };
        assert_eq!(pool.next_deadline(S, true), Some(Duration::ZERO));
        assert_eq!(pool.next_deadline(S, false), None);
        pool.started(0, 1, S);
        pool.started(1, 2, S);
        assert_eq!(pool.next_deadline(S, true), None, "an idle pool has nothing to wake for");
        pool.fork_failed(1, 2 * S);
        pool.slots[1].pid = None;
        assert_eq!(pool.next_deadline(S, true), Some(2 * S + 100 * MS));
        pool.slots[0].stop_sent = Some(2 * S);
        assert_eq!(pool.next_deadline(5 * S, false), Some(7 * S));
        assert_eq!(pool.next_overdue(7 * S - MS, 5 * S), None);
        assert_eq!(pool.next_overdue(7 * S, 5 * S), Some(0));
        pool.slots[0].killed = Some(Kill::StopTimeout);
        assert_eq!(pool.next_overdue(8 * S, 5 * S), None);
        assert_eq!(pool.next_deadline(5 * S, false), None);
        // After a suspension the stop timeout counts again from the resume.
        pool.slots[0].killed = None;
        pool.rearm_stops(20 * S);
        assert_eq!(pool.next_overdue(24 * S, 5 * S), None);
        assert_eq!(pool.next_deadline(5 * S, false), Some(25 * S));
    }

    fn live_slot(started: Duration) -> Slot {
        Slot { pid: Some(7), started, ..Slot::default() }
    }

    #[test]
    fn setup_timeout_counts_from_the_fork_or_the_last_resume() {
        let slot = live_slot(10 * S);
        let beat = Heartbeat { setup_done: false, perform_started: None };
        assert_eq!(check_timeout(&slot, beat, None, None, 99 * S, Duration::ZERO), (None, None));
        // No setup timeout, but a perform timeout: look again when a perform could first overrun.
        assert_eq!(check_timeout(&slot, beat, None, Some(S), 99 * S, Duration::ZERO), (None, Some(100 * S)));
        assert_eq!(check_timeout(&slot, beat, Some(5 * S), Some(S), 12 * S, Duration::ZERO), (None, Some(13 * S)));
        assert_eq!(check_timeout(&slot, beat, Some(5 * S), None, 12 * S, Duration::ZERO), (None, Some(15 * S)));
        assert_eq!(
            check_timeout(&slot, beat, Some(5 * S), None, 15 * S, Duration::ZERO),
            (Some(Overrun::Setup { elapsed: 5 * S }), None)
        );
        // The master was suspended until 14 s: the worker gets a full 5 s from then.
        assert_eq!(check_timeout(&slot, beat, Some(5 * S), None, 15 * S, 14 * S), (None, Some(19 * S)));
    }

    #[test]
    fn perform_timeout_kills_once_then_retries_after_a_pause() {
        let mut slot = live_slot(Duration::ZERO);
        let idle = Heartbeat { setup_done: true, perform_started: None };
        assert_eq!(check_timeout(&slot, idle, None, Some(30 * S), 50 * S, Duration::ZERO), (None, Some(80 * S)));
        let busy = Heartbeat { setup_done: true, perform_started: Some(40 * S) };
        assert_eq!(check_timeout(&slot, busy, None, Some(30 * S), 50 * S, Duration::ZERO), (None, Some(70 * S)));
        let over = Overrun::Perform { started: 40 * S, elapsed: 31 * S };
        assert_eq!(check_timeout(&slot, busy, None, Some(30 * S), 71 * S, Duration::ZERO), (Some(over), Some(72 * S)));
        slot.timeout_sent = Some((40 * S, 71 * S));
        assert_eq!(check_timeout(&slot, busy, None, Some(30 * S), 71 * S + MS, Duration::ZERO), (None, Some(72 * S)));
        let next = Heartbeat { setup_done: true, perform_started: Some(71 * S) };
        assert_eq!(check_timeout(&slot, next, None, Some(30 * S), 72 * S, Duration::ZERO), (None, Some(101 * S)));
        // With a limit shorter than the retry pause, the next look is in time for the next perform.
        let short = Heartbeat { setup_done: true, perform_started: Some(80 * S) };
        let over = Overrun::Perform { started: 80 * S, elapsed: 300 * MS };
        let at = 80 * S + 300 * MS;
        assert_eq!(
            check_timeout(&slot, short, None, Some(300 * MS), at, Duration::ZERO),
            (Some(over), Some(at + 300 * MS))
        );
        slot.killed = Some(Kill::PerformTimeout);
        assert_eq!(check_timeout(&slot, busy, None, Some(30 * S), 99 * S, Duration::ZERO), (None, None));
    }

    #[test]
    fn oversleeping_is_a_suspension_lateness_is_not() {
        assert!(!overslept(None, 100 * S));
        assert!(!overslept(Some(10 * S), 10 * S + 500 * MS));
        assert!(overslept(Some(10 * S), 12 * S));
    }

    #[test]
    fn restart_window_trips_on_one_more_than_allowed() {
        let mut w = RestartWindow::new(3, 10 * S);
        assert!(!w.record(S));
        assert!(!w.record(2 * S));
        assert!(!w.record(3 * S));
        assert!(w.record(4 * S));
        let mut w = RestartWindow::new(3, 10 * S);
        for t in [0, 5, 10, 15, 20, 25] {
            assert!(!w.record(t * S), "spread out deaths never trip it");
        }
        assert!(RestartWindow::new(0, S).record(S));
    }

    #[test]
    fn config_rejects_what_cannot_work() {
        assert!(Config::default().validate().is_ok());
        let cases = [
            Config { workers: MAX_WORKERS + 1, ..Config::default() },
            Config { stop_timeout: Duration::ZERO, ..Config::default() },
            Config { setup_timeout: Some(MS), ..Config::default() },
            Config { perform_timeout: Some(60 * S), ..Config::default() },
            Config { max_restarts: Some((5, Duration::ZERO)), ..Config::default() },
            Config { setup_timeout: Some(Duration::MAX), ..Config::default() },
            Config { stop_timeout: Duration::MAX, ..Config::default() },
        ];
        for c in cases {
            let err = c.validate().unwrap_err().to_string();
            assert!(err.starts_with("invalid configuration: "), "{err}");
        }
        assert!(Config { workers: 0, ..Config::default() }.validate().is_ok());
        assert!(Config { perform_timeout: Some(25 * S), ..Config::default() }.validate().is_ok());
    }
}
