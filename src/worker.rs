//! The worker process: `setup` once, then `perform` until asked to stop. Every path out of
//! here ends in `sys::exit`; nothing returns or unwinds into the code that forked it.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::sys::{self, Beat, Exit, Pid};
use crate::{Context, Job, Level, Logger, Strategy};

/// Exit code of a worker or perform child that panicked (Rust's own).
pub const EXIT_PANIC: i32 = 101;
/// Exit code of a worker whose `setup` returned `Err`.
pub const EXIT_SETUP_FAILED: i32 = 3;
/// Exit code of a perform child whose `perform` returned `Err`.
pub const EXIT_PERFORM_FAILED: i32 = 1;

/// What a worker needs to know about itself.
pub struct Spec<'a> {
    pub slot: usize,
    pub master: Pid,
    pub strategy: Strategy,
    /// A perform timeout is set: stamp each perform's start into `beat`.
    pub timed: bool,
    pub beat: &'a Beat,
    pub logger: &'a dyn Logger,
}

impl Spec<'_> {
    /// Logs from the worker itself, then flushes stdout: a perform child is forked next, and a
    /// partial line left in the buffer would be printed again by every child. (Flushing here,
    /// not before each fork, keeps the lock's page out of each perform's copy-on-write faults.)
    fn log(&self, level: Level, args: std::fmt::Arguments<'_>) {
        self.logger.log(level, args);
        sys::flush_stdout();
    }
}

fn nanos(t: Duration) -> u64 {
    t.as_nanos() as u64
}

/// The panic message, when the payload is a string (it nearly always is).
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or(payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string payload)")
}

/// The worker's body; runs in the forked child and never returns.
pub fn run<J: Job>(job: &mut J, w: &Spec<'_>) -> ! {
    sys::set_process_name(&format!("sisyphus-w{}", w.slot));
    // A stop that arrived while we were being forked skips `setup` altogether.
    if !sys::stop_requested() {
        match catch_unwind(AssertUnwindSafe(|| job.setup(&Context::new(w.slot, 0)))) {
            Ok(Ok(())) => {
                w.beat.setup_done.store(true, Relaxed);
                sys::flush_stdout();
            }
            Ok(Err(e)) => {
                w.log(Level::Warn, format_args!("worker {}: setup failed: {e}", w.slot));
                sys::exit(EXIT_SETUP_FAILED)
            }
            Err(p) => {
                w.log(Level::Error, format_args!("worker {}: setup panicked: {}", w.slot, panic_message(&*p)));
                sys::exit(EXIT_PANIC)
            }
        }
    }
    let me = sys::getpid();
    // Made once here: a perform child should not pay for an allocation to name itself.
    let perform_name = format!("sisyphus-p{}", w.slot);
    let mut fork_failures = 0u32;
    let mut iteration = 0;
    while !(sys::stop_requested() || sys::NEEDS_PARENT_CHECK && sys::parent_gone(w.master)) {
        let ctx = Context::new(w.slot, iteration);
        match w.strategy {
            Strategy::Simple => {
                if w.timed {
                    w.beat.perform_started.store(nanos(sys::now()), Relaxed);
                }
                let result = catch_unwind(AssertUnwindSafe(|| job.perform(&ctx)));
                if w.timed {
                    w.beat.perform_started.store(0, Relaxed);
                }
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => w.log(Level::Warn, format_args!("worker {}: perform failed: {e}", w.slot)),
                    Err(p) => {
                        w.log(
                            Level::Error,
                            format_args!("worker {}: perform panicked: {}", w.slot, panic_message(&*p)),
                        );
                        sys::exit(EXIT_PANIC)
                    }
                }
            }
            Strategy::Forking => match perform_in_child(job, &ctx, w, me, &perform_name) {
                Ok(()) if fork_failures > 0 => {
                    w.log(
                        Level::Info,
                        format_args!("worker {}: fork works again after {fork_failures} failures", w.slot),
                    );
                    fork_failures = 0;
                }
                Ok(()) => {}
                Err(e) => {
                    // Back off like the master does, and stay responsive to a stop meanwhile.
                    fork_failures += 1;
                    let delay = crate::supervisor::restart_delay(fork_failures, false);
                    if fork_failures == 1 {
                        w.log(
                            Level::Error,
                            format_args!(
                                "worker {}: fork of a perform child failed: {e}; retrying with backoff",
                                w.slot
                            ),
                        );
                    }
                    sys::sleep_unless_signalled(delay);
                    continue;
                }
            },
        }
        iteration += 1;
    }
    sys::exit(0)
}

/// Runs one perform in a fresh child and waits for it, killing it if the master says it overran.
fn perform_in_child<J: Job>(job: &mut J, ctx: &Context, w: &Spec<'_>, me: Pid, name: &str) -> std::io::Result<()> {
    let started = if w.timed { nanos(sys::now()) } else { 0 };
    if w.timed {
        w.beat.perform_started.store(started, Relaxed);
    }
    // SAFETY: a worker is single-threaded: it was forked from a single-threaded master (checked
    // before the master forked, or waived by the user with `allow_threads`) and starts no threads.
    let child = unsafe {
        sys::fork_perform(me, w.timed, || {
            sys::set_process_name(name);
            let code = match catch_unwind(AssertUnwindSafe(|| job.perform(ctx))) {
                Ok(Ok(())) => 0,
                Ok(Err(e)) => {
                    w.logger.log(Level::Warn, format_args!("worker {}: perform failed: {e}", w.slot));
                    EXIT_PERFORM_FAILED
                }
                Err(p) => {
                    let msg = panic_message(&*p);
                    w.logger.log(Level::Error, format_args!("worker {}: perform panicked: {msg}", w.slot));
                    EXIT_PANIC
                }
            };
            sys::exit(code)
        })
    };
    let child = match child {
        Ok(pid) => pid,
        Err(e) => {
            w.beat.perform_started.store(0, Relaxed);
            return Err(e);
        }
    };
    let mut killed = false;
    let exit = loop {
        // The child is not reaped until `reap` succeeds below, so its pid cannot be reused yet.
        if w.timed && sys::take_timeout_request() && w.beat.kill_request.load(Relaxed) == started {
            let _ = sys::kill(child, sys::SIGKILL);
            killed = true;
        }
        match sys::reap(child) {
            Ok(exit) => break exit,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                w.log(Level::Error, format_args!("worker {}: waiting for perform child {child}: {e}", w.slot));
                break Exit::Code(0);
            }
        }
    };
    if w.timed {
        w.beat.perform_started.store(0, Relaxed);
    }
    match exit {
        // 1 and 101 were logged by the child itself; a timeout kill by the master.
        Exit::Code(0 | EXIT_PERFORM_FAILED | EXIT_PANIC) | Exit::Vanished => {}
        Exit::Signal(sys::SIGKILL) if killed => {}
        Exit::Signal(sig) => w.log(
            Level::Error,
            format_args!("worker {}: perform child {child} was killed by signal {}", w.slot, sys::signal_name(sig)),
        ),
        Exit::Code(code) => {
            w.log(Level::Warn, format_args!("worker {}: perform child {child} exited with code {code}", w.slot))
        }
    }
    Ok(())
}
