//! One perform: in the worker itself (simple strategy) or in a fresh child that leads its own
//! process group (forking strategy), so that a forced end or a timeout kills everything the
//! perform started, and nothing else.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::signals::{self, SetupSignals};
use super::{PARENT_CHECK, Spec, panic_message};
use crate::job::{BoxError, Context, Job};
use crate::log::Level;
use crate::sys::{self, Exit, Pid, SIGKILL};
use crate::table::{Beat, EXIT_PANIC, EXIT_PERFORM_FAILED, WAKE};

/// Whether a perform succeeded.
pub type Succeeded = bool;

/// The exit code a perform child ends with (0, `EXIT_PERFORM_FAILED` or `EXIT_PANIC`) and, for
/// a failure, what to log.
fn outcome(ended: std::thread::Result<Result<(), BoxError>>) -> (i32, Option<(Level, String)>) {
    match ended {
        Ok(Ok(())) => (0, None),
        Ok(Err(e)) => (EXIT_PERFORM_FAILED, Some((Level::Warn, format!("failed: {e}")))),
        Err(p) => (EXIT_PANIC, Some((Level::Error, format!("panicked: {}", panic_message(&*p))))),
    }
}

/// Logs and records a failed perform.
fn report(failure: Option<(Level, String)>, w: &Spec<'_>) {
    if let Some((level, why)) = failure {
        w.log(level, format_args!("worker {}: perform {why}", w.slot));
        w.record(Some(&format!("perform {why}")));
    }
}

/// Runs `perform` in the worker (simple strategy). A panic ends the worker (exit 101).
pub fn here<J: Job>(job: &mut J, ctx: &Context, w: &Spec<'_>) -> Succeeded {
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
        return w.record(None);
    }
    let (code, failure) = outcome(ended);
    report(failure, w);
    if code == EXIT_PANIC {
        sys::exit(EXIT_PANIC)
    }
    false
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
) -> std::io::Result<Succeeded> {
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
            let (code, failure) = outcome(catch_unwind(AssertUnwindSafe(|| job.perform(ctx))));
            if failure.is_some() {
                // The worker need not log it again.
                w.beat.set_reported();
            }
            report(failure, w);
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
                end_now(child, beat);
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
            end_now(child, beat);
        }
    }
}

/// The master said to end now, or died: the perform's group, then the worker's own.
fn end_now(child: Pid, beat: &Beat) -> ! {
    let _ = sys::kill_group(child, SIGKILL);
    // Nothing is left in it for the master to kill, and its id may soon be free.
    beat.set_perform_group(None);
    sys::kill_own_group(SIGKILL);
    sys::exit(128 + SIGKILL)
}

/// Whether the perform succeeded; logs what the child did not log itself.
fn judge(child: Pid, exit: Exit, sent: Sent, w: &Spec<'_>) -> Succeeded {
    let reported = w.beat.take_reported();
    match exit {
        Exit::Code(0) | Exit::Vanished => w.record(None),
        // The child logged and recorded it.
        _ if reported => false,
        // The master logged the timeout.
        Exit::Signal(SIGKILL) if sent.kill => w.record(Some("perform timeout")),
        // It ended as the stop asked it to: neither a failure nor a success.
        Exit::Signal(sig) if sent.stop && Some(sig) == w.config.stop_signal.map(|s| s.as_raw()) => true,
        Exit::Signal(sig) => {
            let what = format!("perform child {child} was killed by signal {}", sys::signal_name(sig));
            w.log(Level::Error, format_args!("worker {}: {what}", w.slot));
            w.record(Some(&what))
        }
        Exit::Code(code) => {
            let what = format!("perform child {child} exited with code {code}");
            w.log(Level::Warn, format_args!("worker {}: {what}", w.slot));
            w.record(Some(&what))
        }
    }
}
