//! The worker process: `setup` once, then `perform` until asked to stop. Every path out of
//! here ends in `sys::exit`; nothing returns or unwinds into the code that forked it.

mod perform;
mod signals;

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crate::config::{Config, Strategy};
use crate::error::ForkError;
use crate::health::{Ended, Health};
use crate::job::{Context, Job};
use crate::log::{Human, Level, Logger};
use crate::pace::{Pace, Start, first_due, restart_delay, splay_offset, wall_now};
use crate::sys::{self, Pid, SIGINT, SIGTERM, SigSet};
use crate::table::{Beat, EXIT_PANIC, EXIT_SETUP_FAILED, WAKE};

use perform::Outcome;
use signals::parent_gone;

/// How often a worker whose death signal could not be armed looks for its master while it
/// waits.
const PARENT_CHECK: Duration = Duration::from_secs(1);
/// How long a worker on a calendar waits at most before it reads the wall clock again.
const WALL_CHECK: Duration = Duration::from_secs(1);

/// What a worker needs to know about itself.
pub struct Spec<'a> {
    pub slot: usize,
    pub master: Pid,
    pub config: &'a Config,
    /// Recycle after this many performs (this worker's draw from `max_performs`).
    pub max_performs: Option<u64>,
    /// The pool's configured size (more if this slot was added beyond it), for spreading the
    /// slots' first performs and for `Context::workers`.
    pub workers: usize,
    /// A supervising master waits for `WAKE` when `setup` is done.
    pub tell_master: bool,
    /// A daemon's stdout and stderr follow the log file when it is reopened.
    pub follow_log: bool,
    /// The slot missed a scheduled start while nothing ran: one perform at once (catch-up).
    pub catch_up: bool,
    pub beat: &'a Beat,
    pub health: &'a Health,
    pub logger: &'a dyn Logger,
    /// The signal mask to go back to after the fork (the master blocked its signals for it).
    pub mask: SigSet,
}

impl Spec<'_> {
    /// A perform timeout is set: each perform's start is stamped into the beat.
    fn timed(&self) -> bool {
        self.config.perform_timeout.is_some()
    }

    /// A context for perform `iteration` (or `setup`, 0).
    fn context(&self, iteration: u64) -> Context {
        Context::new(self.slot, iteration).with_workers(self.workers)
    }

    /// What this worker (`kind` `w`) or its perform child (`p`) calls itself: `NAME-wN`, the
    /// name cut to fit the 15 bytes a process name has.
    fn process_name(&self, kind: char) -> String {
        let (name, suffix) = (&self.config.name, format!("-{kind}{}", self.slot));
        let room = name.len().min(15usize.saturating_sub(suffix.len()));
        let keep = (0..=room).rev().find(|&i| name.is_char_boundary(i)).unwrap_or(0);
        format!("{}{suffix}", &name[..keep])
    }

    /// Records how a perform ended (`None`: it succeeded) in the pool's health. Wakes the
    /// master when that changes what it must do or say: the first failure after a success, the
    /// failure that reaches `max_failures`, the success that ends failures in a row. No system
    /// call otherwise.
    fn record(&self, failure: Option<(&str, Ended)>) {
        let wake = match failure {
            None => self.health.succeeded(self.slot),
            Some((what, how)) => {
                let in_a_row = self.health.failed(self.slot, what, how);
                in_a_row == 1 || Some(in_a_row) == self.config.max_failures
            }
        };
        if wake && self.tell_master && sys::getppid() == self.master {
            let _ = sys::kill(self.master, WAKE);
        }
    }

    /// Logs from the worker itself, then flushes Rust's and C's stdio: a perform child is
    /// forked next, and a partial line left in a buffer would be printed again by every child.
    /// After `setup` a forking worker runs no user code but the logger, so flushing here and
    /// after `setup` empties the buffers before every fork, without a flush per fork (whose
    /// writes to the streams' locks would cost each perform copy-on-write faults).
    /// A logger that panics loses its line.
    fn log(&self, level: Level, args: std::fmt::Arguments<'_>) {
        let _ = catch_unwind(AssertUnwindSafe(|| self.logger.log(level, args)));
        sys::flush_stdio();
    }
}

/// The panic message, when the payload is a string (it nearly always is).
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or(payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string payload)")
}

/// The worker's body; runs in the forked child and never returns. It owns the job: on a
/// graceful stop the job is dropped here, once, and never in a perform child.
pub fn run<J: Job>(mut job: J, w: &Spec<'_>) -> ! {
    // SAFETY: the beat is in the shared table, mapped by the master before the fork and never
    // unmapped in this process, which never returns.
    let armed = unsafe { signals::adopt(w.beat, w.master, true) };
    sys::forget_service_env();
    w.mask.set_mask();
    SigSet::of(&[SIGINT, SIGTERM, WAKE]).unblock();
    // SAFETY: `w` lives for the rest of this process: `run` never returns, and a perform
    // child is a copy of this worker.
    unsafe { crate::log::set_job_logger(&w.logger) };
    sys::set_process_name(&w.process_name('w'));
    if let Some(e) = armed.as_ref().err().filter(|_| sys::DEATH_SIGNAL_WORKS) {
        let instead = format!("checking for the master between {}s instead", w.config.noun);
        let line =
            format_args!("worker {}: cannot have the kernel signal it when the master dies ({e}); {instead}", w.slot);
        w.log(Level::Warn, line);
    }
    // A stop that arrived while we were being forked skips `setup` altogether.
    if !w.beat.stop_requested() {
        setup(&mut job, w);
    }
    let mut worker = Worker { w, armed: armed.is_ok(), fork_failures: 0 };
    match w.config.strategy {
        Strategy::Simple => worker.simple_loop(&mut job),
        Strategy::Forking => worker.forking_loop(&mut job),
    }
    // Dropped here, in the worker: a `BufWriter` in the job is flushed. A panicking `Drop`
    // loses only what it had left to do.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(job)));
    sys::exit(0)
}

fn setup<J: Job>(job: &mut J, w: &Spec<'_>) {
    let (level, note, code) = match catch_unwind(AssertUnwindSafe(|| job.setup(&w.context(0)))) {
        Ok(Ok(())) => (None, String::new(), 0),
        Ok(Err(e)) => (Some(Level::Warn), e.to_string(), EXIT_SETUP_FAILED),
        Err(p) => (Some(Level::Error), format!("setup panicked: {}", panic_message(&*p)), EXIT_PANIC),
    };
    if let Some(level) = level {
        w.beat.note.write(&note);
        let what = if code == EXIT_PANIC { "" } else { "setup failed: " };
        w.log(level, format_args!("worker {}: {what}{note}", w.slot));
        sys::exit(code)
    }
    if w.config.strategy == Strategy::Forking && !w.config.allow_threads {
        refuse_threads(w);
    }
    w.beat.set_ready();
    if w.tell_master && sys::getppid() == w.master {
        let _ = sys::kill(w.master, WAKE);
    }
    sys::flush_stdio();
}

/// A forking worker must not fork performs while other threads live: a perform child would
/// inherit any lock one of them holds (stdout's, the allocator's) locked forever.
fn refuse_threads(w: &Spec<'_>) {
    let why = match ForkError::unless_single_threaded() {
        Ok(()) => return,
        Err(e) => e,
    };
    let text = format!(
        "{why} after setup: a forking worker cannot fork performs safely; use Strategy::Simple, \
         or start threads inside each perform"
    );
    w.beat.note.write(&text);
    w.log(Level::Error, format_args!("worker {}: {text}", w.slot));
    sys::exit(EXIT_SETUP_FAILED)
}

/// The worker loop's own state.
struct Worker<'a, 'b> {
    w: &'a Spec<'b>,
    /// The kernel sends `WAKE` when the master dies; if not, we look ourselves.
    armed: bool,
    fork_failures: u32,
}

impl Worker<'_, '_> {
    /// Whether to start another perform; ends the worker at once if the master said so.
    fn go_on(&self) -> bool {
        if self.w.beat.force_requested() {
            sys::kill_own_group(sys::SIGKILL);
        }
        !(self.w.beat.stop_requested() || !self.armed && parent_gone())
    }

    fn simple_loop<J: Job>(&mut self, job: &mut J) {
        self.paced(|w, ctx| Some(perform::here(job, ctx, w.w)));
    }

    fn forking_loop<J: Job>(&mut self, job: &mut J) {
        let from_setup = signals::take_back();
        let me = sys::getpid();
        // Made once here: a perform child should not pay for an allocation to name itself.
        let name = self.w.process_name('p');
        self.paced(|w, ctx| {
            let forked = perform::in_child(job, ctx, w.w, &from_setup, me, &name, w.armed);
            w.forked(forked)
        });
    }

    /// Runs `perform` until asked to stop, each start paced by the interval and the failure
    /// backoff; `perform` says whether it succeeded, or `None` if it could not run at all.
    fn paced(&mut self, mut perform: impl FnMut(&mut Self, &Context) -> Option<Outcome>) {
        // Without an interval or a backoff pending, no clock is read: the simple loop's cost.
        let pacing = self.w.config.pacing;
        let clocked = pacing.scheduled();
        let (now, beat) = (pacing.now(), self.w.beat);
        let splay = pacing.splay.map_or(Duration::ZERO, |d| splay_offset(d, &sys::hostname(), self.w.slot));
        let mut pace = match beat.next_due().filter(|_| clocked) {
            Some(due) => Pace::resume(pacing, due, now, splay),
            None => {
                let (slot, workers) = (self.w.slot, self.w.workers);
                Pace::new(pacing, first_due(&pacing, slot, workers, now, wall_now(), splay), splay)
            }
        };
        // A calendar's wait is cut into short ones, each reading the wall clock again: a
        // clock step or a suspension is noticed within one.
        let longest_wait = if pacing.cron.is_some() { WALL_CHECK } else { Duration::MAX };
        if clocked {
            // For a worker that may replace this one, even before its first perform.
            beat.set_next_due(pace.next());
        }
        // One perform at once, outside the schedule, for a start missed while nothing ran; a
        // first start due at once anyway (an interval's) is that perform, not one more.
        let mut catching_up = self.w.catch_up && clocked && pace.due() > now;
        // Each start's time, for the state file.
        let tracked = self.w.config.state_file.is_some();
        // A line per perform only for a logger that keeps them: none costs a clock read.
        let debug = self.w.logger.enabled(Level::Debug);
        let mut iteration = 0;
        // The last pass ended a perform, whose end its record stamped.
        let mut ended_last = false;
        while self.go_on() {
            let back_to_back = std::mem::take(&mut ended_last);
            if self.w.beat.reopen_requested() && self.w.beat.take_reopen() {
                crate::log::reopen(self.w.logger, self.w.follow_log);
            }
            // (Under `run` only: the unmonitored API has no one to stop the pool.)
            if self.w.tell_master && self.w.config.max_failures.is_some_and(|n| self.w.health.in_a_row() >= n) {
                // The pool fails: the master stops it; no perform starts meanwhile.
                self.idle(PARENT_CHECK);
                continue;
            }
            if self.w.max_performs.is_some_and(|n| iteration >= n) {
                self.w.beat.set_recycled();
                return;
            }
            if (clocked && !catching_up) || pace.backing_off() {
                let now = pacing.now();
                pace.follow_clock(now);
                if pace.due() > now {
                    self.idle((pace.due() - now).min(longest_wait));
                    continue;
                }
            }
            let mut ctx = self.w.context(iteration);
            let mut behind = None;
            if clocked {
                let now = pacing.now();
                let start = match catching_up {
                    true => Start { scheduled: now, late: None },
                    false => pace.start(now),
                };
                catching_up = false;
                if tracked {
                    let wall =
                        if pacing.cron.is_some() { start.scheduled } else { wall_now() - (now - start.scheduled) };
                    self.w.health.started(self.w.slot, Some(wall.as_millis() as u64), false);
                }
                // For a worker that may replace this one.
                beat.set_next_due(pace.next());
                if let Some(late) = start.late {
                    self.late(late);
                }
                behind = Some(now.saturating_sub(start.scheduled));
                ctx = ctx.with_scheduled(Instant::now() - now.saturating_sub(start.scheduled));
            }
            if tracked && !clocked {
                self.w.health.started(self.w.slot, None, back_to_back);
            }
            let began = debug.then(|| perform::starts(self.w, iteration, behind));
            let Some(outcome) = perform(self, &ctx) else { continue };
            ended_last = true;
            let succeeded = outcome.is_ok();
            if clocked || !succeeded || pace.backing_off() {
                pace.finished(succeeded, pacing.now());
            }
            perform::ended(self.w, iteration, outcome, began, || pace.due().saturating_sub(pacing.now()));
            iteration += 1;
        }
    }

    /// A perform starts late against the schedule: counted, and one WARN line.
    fn late(&self, late: Duration) {
        self.w.beat.count_late_start();
        let (slot, late, noun) = (self.w.slot, Human(late), self.w.config.noun);
        let why = "the last one overran the schedule, the worker was suspended or the clock jumped";
        self.w.log(Level::Warn, format_args!("worker {slot}: {noun} started {late} late ({why})"));
    }

    /// After a perform child's fork: says when fork works again; after a failure, backs off as
    /// the master does, responsive to a stop meanwhile, and returns `None` (no perform ran).
    fn forked(&mut self, result: std::io::Result<Outcome>) -> Option<Outcome> {
        let (slot, n) = (self.w.slot, self.fork_failures);
        match result {
            Ok(succeeded) if n > 0 => {
                self.w.log(Level::Info, format_args!("worker {slot}: fork works again after {n} failures"));
                self.fork_failures = 0;
                Some(succeeded)
            }
            Ok(succeeded) => Some(succeeded),
            Err(e) => {
                if n == 0 {
                    let (retrying, child) = ("retrying with backoff", self.w.config.noun.child());
                    self.w.log(Level::Error, format_args!("worker {slot}: fork of a {child} failed: {e}; {retrying}"));
                }
                self.fork_failures += 1;
                self.idle(restart_delay(self.fork_failures, false));
                None
            }
        }
    }

    /// Waits `delay`, unless a stop comes first. The wake-up set is already blocked in a
    /// forking worker; here it is blocked for the wait only.
    fn idle(&self, delay: Duration) {
        let set = signals::wait_set();
        let before = set.block();
        let end = sys::now() + delay;
        while self.go_on() {
            let left = end.saturating_sub(sys::now());
            if left.is_zero() {
                break;
            }
            let cap = if self.armed { left } else { left.min(PARENT_CHECK) };
            let beat = self.w.beat;
            if beat.force_requested() || parent_gone() {
                sys::kill_own_group(sys::SIGKILL);
            }
            if beat.reopen_requested() {
                // The caller reopens the log, then waits for what is left.
                break;
            }
            let calm = || !beat.stop_requested() && !beat.force_requested() && !beat.reopen_requested();
            signals::wait(beat, &set, Some(cap), calm);
        }
        before.set_mask();
    }
}
