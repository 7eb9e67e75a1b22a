//! What the master logs: one variant per event, its level, and its wording. The supervisor
//! says what happened; the driver hands the line to the logger.

use std::fmt;
use std::io;
use std::time::Duration;

use super::Strategy;
use super::slot::Kill;
use crate::Level;
use crate::sys::{self, Exit, Pid};

/// Why forking a worker failed.
#[derive(Debug)]
pub enum ForkError {
    /// The process has other threads: a child could inherit a lock that none of them will
    /// ever release.
    Threads(usize),
    /// The thread count could not be read, so forking is not known to be safe.
    ThreadsUnknown(io::Error),
    /// `fork` itself failed (EAGAIN under a process limit, ENOMEM).
    Os(io::Error),
}

impl fmt::Display for ForkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForkError::Threads(n) => write!(f, "the process has {n} threads, and forking it could deadlock the child"),
            ForkError::ThreadsUnknown(e) => write!(f, "cannot tell whether the process has other threads ({e})"),
            ForkError::Os(e) => write!(f, "{e}"),
        }
    }
}

/// What started a stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// This signal, sent to the master.
    Signal(i32),
    /// Workers died too often.
    RestartLimit,
    /// A worker failed to start, and the pool had to come up (a daemon).
    StartFailed,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Signal(sig) => f.write_str(sys::signal_name(*sig)),
            Cause::RestartLimit => f.write_str("restart limit"),
            Cause::StartFailed => f.write_str("failed start"),
        }
    }
}

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

/// One thing the master logs.
#[derive(Debug)]
pub enum Event<'a> {
    Starting {
        master: Pid,
        workers: usize,
        strategy: Strategy,
    },
    Started {
        slot: usize,
        pid: Pid,
    },
    /// A worker asked to end has ended.
    Stopped {
        slot: usize,
        pid: Pid,
        exit: Exit,
        forced: bool,
    },
    /// A worker ended unasked.
    Ended {
        slot: usize,
        pid: Pid,
        exit: Exit,
        came_up: bool,
        uptime: Duration,
        kill: Option<Kill>,
        then: Then,
    },
    /// HUP: a rolling restart begins.
    RollStarting {
        workers: usize,
    },
    /// The rolling restart replaced every worker.
    RollDone {
        workers: usize,
    },
    /// A replacement failed `setup`: the roll stops, the other workers keep running.
    RollFailed {
        slot: usize,
        replaced: usize,
        left: usize,
    },
    /// USR1: the master reopened its log and asked the workers to.
    Reopened {
        workers: usize,
    },
    /// A worker ran its `max_performs` and ended, to be replaced at once.
    Recycled {
        slot: usize,
        pid: Pid,
        uptime: Duration,
    },
    Scaling {
        from: usize,
        to: usize,
    },
    /// Every wanted worker finished `setup` for the first time.
    Ready {
        workers: usize,
        after: Duration,
    },
    /// A daemon's worker failed to start before the pool came up.
    StartFailed,
    /// A HUP before the pool was ever up: the roll waits until it is.
    RollHeld,
    /// A notification to the service manager could not be sent.
    NotifyFailed {
        error: &'a io::Error,
    },
    ScalingLimit {
        max: usize,
    },
    NothingToRetire,
    Retiring {
        slot: usize,
        pid: Pid,
    },
    Stopping {
        by: Cause,
        workers: usize,
        timeout: Duration,
    },
    StoppingAtOnce {
        by: Cause,
        again: bool,
        workers: usize,
    },
    StopOverdue {
        slot: usize,
        pid: Pid,
        timeout: Duration,
    },
    NotEnding {
        slot: usize,
        pid: Pid,
        grace: Duration,
    },
    SetupOverrun {
        slot: usize,
        pid: Pid,
        elapsed: Duration,
        limit: Duration,
    },
    PerformOverrun {
        slot: usize,
        pid: Pid,
        elapsed: Duration,
        limit: Duration,
        strategy: Strategy,
    },
    ForkFailed {
        slot: usize,
        error: &'a ForkError,
        retry: Duration,
    },
    ForkWorks {
        failures: u32,
    },
    GivingUp {
        restarts: u32,
        within: Duration,
    },
    Overslept {
        late: Duration,
    },
    Stranger {
        pid: Pid,
        exit: Exit,
    },
    WaitFailed {
        error: &'a io::Error,
    },
    Ignored {
        signal: i32,
    },
    MasterStopped {
        killed: usize,
        late_starts: u64,
    },
}

impl Event<'_> {
    /// How serious it is. Deaths are errors; what is retried or forced, warnings.
    pub fn level(&self) -> Level {
        match self {
            Event::Stopped { exit, forced, .. } => {
                if *forced || *exit == Exit::Code(0) {
                    Level::Info
                } else {
                    Level::Warn
                }
            }
            Event::Ended { exit, came_up: false, kill, .. } => {
                if *exit == Exit::Code(crate::worker::EXIT_SETUP_FAILED) || kill.is_some() {
                    Level::Warn
                } else {
                    Level::Error
                }
            }
            Event::Ended { exit: Exit::Code(0), .. } => Level::Warn,
            Event::Ended { .. } | Event::PerformOverrun { .. } | Event::ForkFailed { .. } => Level::Error,
            Event::GivingUp { .. } | Event::WaitFailed { .. } | Event::RollFailed { .. } | Event::StartFailed => {
                Level::Error
            }
            Event::ScalingLimit { .. }
            | Event::StoppingAtOnce { .. }
            | Event::StopOverdue { .. }
            | Event::NotEnding { .. }
            | Event::SetupOverrun { .. }
            | Event::Overslept { .. }
            | Event::Ignored { .. }
            | Event::NotifyFailed { .. } => Level::Warn,
            Event::Stranger { .. } => Level::Debug,
            _ => Level::Info,
        }
    }
}

impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Event::Starting { master, workers, strategy } => {
                write!(f, "master {master} starting {} ({strategy:?} strategy)", Workers(workers))
            }
            Event::Started { slot, pid } => write!(f, "worker {slot} started (pid {pid})"),
            Event::Stopped { slot, pid, exit, .. } => write!(f, "worker {slot} (pid {pid}) stopped: {}", Ended(exit)),
            Event::Ended { slot, pid, exit, came_up, uptime, kill, then } => {
                let why = Kill::after(kill);
                if came_up {
                    let how = if exit == Exit::Code(0) { "ended unasked" } else { "died" };
                    write!(f, "worker {slot} (pid {pid}) {how} after {}: {}{why}; {then}", Human(uptime), Ended(exit))
                } else {
                    write!(f, "worker {slot} (pid {pid}) failed to start: {}{why}; {then}", Ended(exit))
                }
            }
            Event::RollStarting { workers } => {
                write!(f, "HUP: rolling restart of {}, one at a time", Workers(workers))
            }
            Event::RollDone { workers } => write!(f, "rolling restart done: {} replaced", Workers(workers)),
            Event::RollFailed { slot, replaced, left } => write!(
                f,
                "rolling restart stopped: worker {slot}'s replacement failed to start; {} replaced, {} keep \
                 their old setup; slot {slot} restarts with backoff",
                Workers(replaced),
                Workers(left)
            ),
            Event::Reopened { workers } => {
                write!(f, "USR1: log reopened; {} to reopen theirs between performs", Workers(workers))
            }
            Event::Recycled { slot, pid, uptime } => {
                write!(f, "worker {slot} (pid {pid}) recycled after {} (max_performs): replacing it", Human(uptime))
            }
            Event::Scaling { from, to } => write!(f, "scaling from {from} to {}", Workers(to)),
            Event::Ready { workers, after } => write!(f, "ready: {} up in {}", Workers(workers), Human(after)),
            Event::StartFailed => f.write_str("a worker failed before every worker was up: giving up the start"),
            Event::RollHeld => f.write_str("HUP: the rolling restart waits until every worker has come up"),
            Event::NotifyFailed { error } => write!(f, "cannot notify the service manager (NOTIFY_SOCKET): {error}"),
            Event::ScalingLimit { max } => write!(f, "TTIN ignored past the limit of {max} workers"),
            Event::NothingToRetire => f.write_str("TTOU ignored: no worker to retire"),
            Event::Retiring { slot, pid } => write!(f, "retiring worker {slot} (pid {pid})"),
            Event::Stopping { by, workers, timeout } => {
                write!(f, "{by}: stopping {} gracefully (timeout {})", Workers(workers), Human(timeout))
            }
            Event::StoppingAtOnce { by, again, workers } => {
                let again = if again { "second " } else { "" };
                write!(f, "{again}{by}: stopping {} at once", Workers(workers))
            }
            Event::StopOverdue { slot, pid, timeout } => {
                write!(
                    f,
                    "worker {slot} (pid {pid}) still running {} after the stop request: killing it",
                    Human(timeout)
                )
            }
            Event::NotEnding { slot, pid, grace } => {
                write!(
                    f,
                    "worker {slot} (pid {pid}) did not end within {} of being told to: SIGKILLing its group",
                    Human(grace)
                )
            }
            Event::SetupOverrun { slot, pid, elapsed, limit } => write!(
                f,
                "worker {slot} (pid {pid}): setup timeout: running {}, limit {}; killing it",
                Human(elapsed),
                Human(limit)
            ),
            Event::PerformOverrun { slot, pid, elapsed, limit, strategy } => {
                let what = if strategy == Strategy::Simple { "the worker" } else { "its perform child" };
                let (elapsed, limit) = (Human(elapsed), Human(limit));
                write!(
                    f,
                    "worker {slot} (pid {pid}): perform timeout: running {elapsed}, limit {limit}; killing {what}"
                )
            }
            Event::ForkFailed { slot, error, retry } => {
                write!(f, "cannot fork worker {slot}: {error}; retrying in {}", Human(retry))
            }
            Event::ForkWorks { failures } => write!(f, "fork works again after {failures} failures"),
            Event::GivingUp { restarts, within } => {
                write!(f, "workers died more than {restarts} times within {}: giving up", Human(within))
            }
            Event::Overslept { late } => {
                write!(f, "master woke {} late (suspended?); timeouts count again from now", Human(late))
            }
            Event::Stranger { pid, exit } => write!(f, "reaped pid {pid}, not a worker: {}", Ended(exit)),
            Event::WaitFailed { error } => write!(f, "waitid failed: {error}"),
            Event::Ignored { signal } => write!(f, "SIG{} ignored: it has no meaning here", sys::signal_name(signal)),
            Event::MasterStopped { killed, late_starts } => {
                write!(f, "master stopped ({killed} killed, performs late on schedule: {late_starts})")
            }
        }
    }
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

/// "1 worker", "3 workers".
struct Workers(usize);

impl fmt::Display for Workers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} worker{}", self.0, if self.0 == 1 { "" } else { "s" })
    }
}

/// A duration for humans: `250 ms`, `300.4 ms`, `25 s`, `31.2 s`.
pub struct Human(pub Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        match (d.as_millis(), d.subsec_nanos()) {
            (ms, n) if ms < 1000 && n % 1_000_000 == 0 => write!(f, "{ms} ms"),
            (ms, _) if ms < 1000 => write!(f, "{:.1} ms", d.as_secs_f64() * 1e3),
            (_, 0) => write!(f, "{} s", d.as_secs()),
            _ => write!(f, "{:.1} s", d.as_secs_f64()),
        }
    }
}

/// How a process ended, in words.
pub struct Ended(pub Exit);

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Exit::Code(code) => write!(f, "exited with code {code}"),
            Exit::Signal(sig) => write!(f, "was killed by signal {}", sys::signal_name(sig)),
            Exit::Vanished => f.write_str("was reaped by someone else"),
        }
    }
}
