//! One perform: in the worker itself (simple strategy) or in a fresh child that leads its own
//! process group (forking strategy), so that a forced end or a timeout kills everything the
//! perform started, and nothing else.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::signals::{self, SetupSignals};
use super::{PARENT_CHECK, Spec, panic_message};
use crate::health::Ended;
use crate::job::{BoxError, Context, Job};
use crate::log::{Child, Human, Level, Noun};
use crate::sys::{self, Exit, Pid, SIGINT, SIGKILL, SIGTERM};
use crate::table::{EXIT_PANIC, EXIT_PERFORM_FAILED, WAKE};

/// How a perform ended: `Ok`, or a failure with what to log (`None`: logged already).
pub type Outcome = Result<(), Option<(Level, String)>>;

/// At DEBUG: perform `iteration` starts, `behind` its due time on the schedule (with an
/// interval). Returns when.
pub fn starts(w: &Spec<'_>, iteration: u64, behind: Option<std::time::Duration>) -> std::time::Duration {
    let (slot, noun) = (w.slot, w.config.noun);
    match behind {
        Some(behind) => w.log(
            Level::Debug,
            format_args!("worker {slot}: {noun} {iteration} starts, {} after its due time", Human(behind)),
        ),
        None => w.log(Level::Debug, format_args!("worker {slot}: {noun} {iteration} starts")),
    }
    sys::now()
}

/// Logs how perform `iteration` ended: a failure at its level, with when the next perform
/// comes (`next_in`); and, when it `began` is known (DEBUG), every end with its duration.
pub fn ended(
    w: &Spec<'_>,
    iteration: u64,
    outcome: Outcome,
    began: Option<std::time::Duration>,
    next_in: impl FnOnce() -> std::time::Duration,
) {
    if outcome.is_ok() && began.is_none() {
        return;
    }
    let now = sys::now();
    if let Err(Some((level, what))) = &outcome {
        // In whole milliseconds: the clock has moved on since the backoff was set.
        let next = Human(std::time::Duration::from_millis((next_in().as_micros() as u64 + 500) / 1000));
        w.log(*level, format_args!("worker {}: {what}; next in {next}", w.slot));
    }
    if let Some(began) = began {
        let how = if outcome.is_ok() { "ok".to_string() } else { w.health.failure(w.slot) };
        let took = Human(now.saturating_sub(began));
        let noun = w.config.noun;
        w.log(Level::Debug, format_args!("worker {}: {noun} {iteration} ended after {took}: {how}", w.slot));
    }
}

/// The exit code a perform child ends with (0, `EXIT_PERFORM_FAILED` or `EXIT_PANIC`) and, for
/// a failure, its level and what it was (`perform failed: ...`).
fn outcome(ended: std::thread::Result<Result<(), BoxError>>, noun: Noun) -> (i32, Option<(Level, String)>) {
    match ended {
        Ok(Ok(())) => (0, None),
        Ok(Err(e)) => (EXIT_PERFORM_FAILED, Some((Level::Warn, format!("{noun} failed: {e}")))),
        Err(p) => (EXIT_PANIC, Some((Level::Error, format!("{noun} panicked: {}", panic_message(&*p))))),
    }
}

/// Runs `perform` in the worker (simple strategy). A panic ends the worker (exit 101).
pub fn here<J: Job>(job: &mut J, ctx: &Context, w: &Spec<'_>) -> Outcome {
    if w.timed() {
        w.beat.stamp(Some(sys::now()));
    }
    let ended = catch_unwind(AssertUnwindSafe(|| job.perform(ctx)));
    if w.timed() {
        w.beat.stamp(None);
    }
    // What the perform printed to Rust's or C's stdout is out before anything can SIGKILL the
    // worker, and before the line that says how it ended. No system call when nothing is
    // buffered.
    sys::flush_stdouts();
    if let Ok(Ok(())) = ended {
        w.record(None);
        return Ok(());
    }
    let (code, failure) = outcome(ended, w.config.noun);
    let (level, what) = failure.unwrap_or((Level::Warn, String::new()));
    w.record(Some((&what, Ended::Failed)));
    if code == EXIT_PANIC {
        w.log(level, format_args!("worker {}: {what}", w.slot));
        sys::exit(EXIT_PANIC)
    }
    Err(Some((level, what)))
}

/// Runs one perform in a fresh child and waits for it, killing its group if the master says
/// it overran or that everything must end now. An error when the fork failed.
pub fn in_child<J: Job>(
    job: &mut J,
    ctx: &Context,
    w: &Spec<'_>,
    from_setup: &SetupSignals,
    me: Pid,
    name: &str,
    armed: bool,
) -> std::io::Result<Outcome> {
    // Nothing is buffered here: the worker flushed after `setup` and after its own log lines.
    let started = w.timed().then(sys::now);
    w.beat.stamp(started);
    // SAFETY: a worker is single-threaded: it was forked from a single-threaded master (checked
    // before the master forked, or waived by the user with `allow_threads`), after `setup` it
    // refused to go on with other threads (unless waived the same way), and the only user code
    // it runs after that, the logger, may start no thread (the `Logger` contract). `adopt` in
    // the child: the worker's beat is in the shared table, never unmapped in this process.
    let forked = unsafe {
        sys::fork_leader(|| {
            let _ = signals::adopt(w.beat, me, false);
            signals::give_back(from_setup);
            sys::set_process_name(name);
            let (code, failure) = outcome(catch_unwind(AssertUnwindSafe(|| job.perform(ctx))), w.config.noun);
            if let Some((_, what)) = failure {
                // For the worker, which counts it and logs it with when the next perform comes.
                w.health.note(w.slot, &what);
                w.beat.set_reported();
            }
            sys::exit(code)
        })
    };
    let child = match forked {
        Ok(pid) => {
            // For the master, should this worker die before the perform does.
            w.beat.set_perform_group(Some(pid));
            pid
        }
        Err(e) => {
            w.beat.stamp(None);
            return Err(e);
        }
    };
    let (exit, sent) = wait_for(child, started, w, armed);
    w.beat.stamp(None);
    Ok(judge(child, exit, sent, w))
}

/// What the worker sent a perform child's group.
#[derive(Clone, Copy, Default)]
struct Sent {
    /// SIGKILL, as the master asked (a perform timeout).
    kill: bool,
    /// The stop signal.
    stop: bool,
}

/// Waits for perform child `child` to exit while taking the master's requests. The child is
/// not reaped before the end, so its pid and group cannot be reused while we may signal them.
fn wait_for(child: Pid, started: Option<std::time::Duration>, w: &Spec<'_>, armed: bool) -> (Exit, Sent) {
    let (beat, set) = (w.beat, signals::wait_set());
    // With other threads allowed, a SIGCHLD may go to one of them and be lost: look anyway.
    let cap = (!armed || w.config.allow_threads).then_some(PARENT_CHECK);
    let stop_signal = w.config.stop_signal.map(|s| s.as_raw());
    let mut sent = Sent::default();
    loop {
        let mut exited = Ok(None);
        // Requests made before the worker said it waits are taken here; later ones wake it.
        let got = signals::wait(beat, &set, cap, || {
            if let Some(sig) = stop_signal.filter(|_| !sent.stop && beat.stop_requested()) {
                let _ = sys::kill_group(child, sig);
                sent.stop = true;
            }
            if beat.force_requested() || !armed && signals::parent_gone() {
                end_now(child);
            }
            if started.is_some_and(|s| beat.take_kill_request(s)) {
                let _ = sys::kill_group(child, SIGKILL);
                sent.kill = true;
            }
            exited = sys::peek_exited(Some(child));
            matches!(exited, Ok(None))
        });
        match exited {
            Ok(None) => {}
            Ok(Some(exited)) => {
                if exited.zombie {
                    // What the perform left running in its group ends with it.
                    let _ = sys::kill_group(child, SIGKILL);
                }
                // Before it is reaped, so the master never kills a group id free for reuse.
                beat.set_perform_group(None);
                return (sys::collect(child).unwrap_or(Exit::Vanished), sent);
            }
            Err(_) => {
                beat.set_perform_group(None);
                return (Exit::Vanished, sent);
            }
        }
        if got == Some(WAKE) && signals::parent_gone() {
            end_now(child);
        }
    }
}

/// The master said to end now, or died: the perform's group, then the worker's own.
fn end_now(child: Pid) -> ! {
    let _ = sys::kill_group(child, SIGKILL);
    // The group stays recorded: the master SIGKILLs it again when it reaps this worker, and
    // waits for it to be empty before it exits. (Its id is not reused meanwhile: the pids
    // would have to wrap around.)
    sys::kill_own_group(SIGKILL);
    sys::exit(128 + SIGKILL)
}

/// How the perform ended, recorded in the pool's health unless the child did.
fn judge(child: Pid, exit: Exit, sent: Sent, w: &Spec<'_>) -> Outcome {
    let failed = |level, what: String, how| {
        w.record(Some((&what, how)));
        Err(Some((level, what)))
    };
    match exit {
        Exit::Code(0) | Exit::Vanished => {
            w.record(None);
            Ok(())
        }
        // The child noted what it was.
        _ if w.beat.take_reported() => {
            let level = if exit == Exit::Code(EXIT_PANIC) { Level::Error } else { Level::Warn };
            failed(level, w.health.failure(w.slot), Ended::Failed)
        }
        // Ended by a stop (systemd's control-group kill TERMs every process): neither a
        // failure nor a success.
        Exit::Signal(SIGTERM | SIGINT) if w.beat.stop_requested() => Ok(()),
        // The master logged the timeout.
        Exit::Signal(SIGKILL) if sent.kill => {
            w.record(Some(("perform timeout", Ended::Timeout)));
            Err(None)
        }
        // It ended as the stop asked it to: neither a failure nor a success.
        Exit::Signal(sig) if sent.stop && Some(sig) == w.config.stop_signal.map(|s| s.as_raw()) => Ok(()),
        Exit::Signal(sig) => {
            let what = format!("{} was killed by signal {}", Child(w.config.noun, child), sys::signal_name(sig));
            failed(Level::Error, what, Ended::Killed)
        }
        Exit::Code(code) => {
            failed(Level::Warn, format!("{} exited with code {code}", Child(w.config.noun, child)), Ended::Failed)
        }
    }
}
